"""`flowmosaic nightly`: ingest one day's raw files and recompute that day's country rows.

    flowmosaic nightly --date 2020-03-31 --input incoming/2020-03-31 --remote sc://127.0.0.1:15002

DIR holds the day's flows (and, when they changed, funds, share_classes or allocations). The
ingest goes through the same guard as `flowmosaic ingest`: a broken day's file (rows rejected
beyond ingest.max_rejected_pct, a date it would empty) stops the run before anything is
written, every table as it was, exit 2. After the ingest, fund_days must hold --date (else:
an error, exit 2); then country_flows (and with --mosaic investor_country_flows) are
recomputed for that date. One summary with the seconds of each step. On a warm Connect
server (`flowmosaic serve`) no JVM starts (docs/connect.md).
"""

from __future__ import annotations

import argparse
import time

from flowmosaic import nightly
from flowmosaic.cli.context import Context, add_force_replace, day
from flowmosaic.country_flows.job import ENGINES
from flowmosaic.errors import InputError

NAME = "nightly"
HELP = "ingest one day's raw files and recompute that day's country flows"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", required=True, help="the flow date (yyyy-mm-dd or yyyymmdd)")
    p.add_argument(
        "--input",
        required=True,
        help="directory with the day's files (flows; funds, share_classes, "
        "allocations when they changed)",
    )
    p.add_argument(
        "--universe",
        help=f"universe name(s), comma-separated (default: {','.join(nightly.DEFAULT_UNIVERSES)})",
    )
    p.add_argument(
        "--mosaic", action="store_true", help="also the investor grain (investor_country_flows)"
    )
    p.add_argument("--engine", choices=list(ENGINES), default="matrix")
    add_force_replace(p)


def run(ctx: Context) -> int:
    a = ctx.args
    date = day(a.date)
    if date is None:
        raise InputError("--date is required")
    t = time.time()
    spark = ctx.spark
    session_seconds = time.time() - t
    result = nightly.run(
        spark,
        ctx.settings,
        date,
        a.input,
        universes=a.universe,
        mosaic=a.mosaic,
        engine=a.engine,
        session_seconds=session_seconds,
        force_replace=a.force_replace,
        progress=ctx.say,
    )
    ctx.say(result.describe())
    return 0
