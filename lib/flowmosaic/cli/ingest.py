"""`flowmosaic ingest`: raw vendor files -> validated silver Delta tables + quarantine."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context, add_force_replace
from flowmosaic.ingest import ingest_paths

NAME = "ingest"
HELP = "validate raw files into silver Delta tables (bad rows to the quarantine)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        help="a directory holding funds, share_classes, allocations, flows and, when there are "
        "weekly or monthly reporters, weekly_flows and monthly_flows (.csv, .csv.gz, .tsv, "
        ".zip, .parquet, or a directory of such files)",
    )
    p.add_argument("--flows", help="share-class daily flows (CSV/Parquet file or directory)")
    p.add_argument("--weekly-flows", help="share-class weekly flows, dated at week ends")
    p.add_argument("--monthly-flows", help="share-class monthly flows, dated at month ends")
    p.add_argument("--share-classes", help="share-class attributes")
    p.add_argument("--funds", help="fund attributes")
    p.add_argument("--allocations", help="country allocations, wide or long")
    add_force_replace(p)


def run(ctx: Context) -> int:
    a = ctx.args
    report = ingest_paths(
        ctx.spark,
        ctx.settings,
        directory=a.input,
        flows=a.flows,
        share_classes=a.share_classes,
        funds=a.funds,
        allocations=a.allocations,
        weekly_flows=a.weekly_flows,
        monthly_flows=a.monthly_flows,
        force_replace=a.force_replace,
        progress=ctx.say,
    )
    ctx.say(report.describe())
    return 0
