"""`flowmosaic ingest-series FILE`: other flow sources of the mosaic (official flows,
positioning, hedging indicators...) -> silver external_series, validated like every input."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context, add_force_replace
from flowmosaic.ingest import ingest_paths

NAME = "ingest-series"
HELP = "load user-supplied series (date,series,country,value,unit,frequency) for the mosaic"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        help="long CSV/Parquet: date, series, country, value, unit, "
        "frequency (daily|weekly|monthly|quarterly)",
    )
    add_force_replace(p)


def run(ctx: Context) -> int:
    report = ingest_paths(
        ctx.spark,
        ctx.settings,
        external_series=ctx.args.file,
        force_replace=ctx.args.force_replace,
        progress=ctx.say,
    )
    ctx.say(report.describe())
    return 0
