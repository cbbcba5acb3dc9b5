"""`flowmosaic signals`: silver flows and allocations -> gold country_signals over a window
(docs/signals.md)."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context, day
from flowmosaic.signals import job
from flowmosaic.signals.transforms import SIGNALS

NAME = "signals"
HELP = "country signals beyond flow % per universe (gold country_signals)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--universe", required=True, help="universe name(s) from universes.yaml, comma-separated"
    )
    p.add_argument(
        "--signal",
        help=f"signal name(s), comma-separated (default: all of {', '.join(SIGNALS)})",
    )
    p.add_argument("--start", help="first date (yyyy-mm-dd or yyyymmdd; default: first in data)")
    p.add_argument("--end", help="last date (default: last flow date in data)")
    p.add_argument("--universes", help="universes YAML (default conf/universes.yaml)")


def run(ctx: Context) -> int:
    a = ctx.args
    result = job.run(
        ctx.spark,
        ctx.settings,
        a.universe,
        start=day(a.start),
        end=day(a.end),
        signals=a.signal,
        universes_path=a.universes,
        progress=ctx.say,
    )
    ctx.say(result.describe())
    return 0
