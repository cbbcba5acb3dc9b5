"""`flowmosaic quarantine`: the rejected rows of the latest ingest run (or of --run ID), by
source, reason and file, with a few original rows each; --out writes them all as CSV.

    flowmosaic quarantine
    flowmosaic quarantine --reason malformed_line --examples 10
    flowmosaic quarantine --run 3f2a... --out rejected.csv

Fix the file the rows came from and ingest it again: its earlier quarantine rows are replaced
by the new run's (docs/ingest.md, "12. Quarantine").
"""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context
from flowmosaic.ingest import quarantine
from flowmosaic.ingest.reasons import REASONS

NAME = "quarantine"
HELP = "show the latest ingest's rejected rows by source, reason and file"
DESCRIPTION = __doc__
SOURCES = (
    "funds",
    "share_classes",
    "fund_allocations",
    "external_series",
    "share_class_flows",
    "share_class_flows_weekly",
    "share_class_flows_monthly",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        dest="run_id",  # not `run`: the parser's default holds the command's function there
        help="an ingest run id (default: the latest run with rejected rows)",
    )
    p.add_argument("--source", choices=SOURCES, help="only rows meant for this silver table")
    p.add_argument("--reason", choices=REASONS, help="only rows rejected for this reason")
    p.add_argument("--examples", type=int, default=3, help="rows shown per group (default 3)")
    p.add_argument("--out", help="write every selected row to this CSV file")


def run(ctx: Context) -> int:
    a = ctx.args
    result, rows = quarantine.view(
        ctx.spark, ctx.settings, a.run_id, a.source, a.reason, max(0, a.examples)
    )
    ctx.say(result.describe())
    if a.out:
        quarantine.write_rows(rows, a.out)
        ctx.say(f"{len(rows):,} row(s) written to {a.out}")
    return 0
