"""`flowmosaic maintain`: table upkeep: OPTIMIZE (ZORDER BY flow_date on the date-bearing tables),
VACUUM and a checkpoint, per table.

    flowmosaic maintain                                  # every table, retention 7 days
    flowmosaic maintain --tables country_flows --retain-hours 24

VACUUM keeps every country_flows version a backtest_runs row records (the retention is raised
for it, and a dry run checks it); --force keeps a shorter retention and says which of those
versions no longer time-travel. docs/consumers.md, "Table upkeep", has the rules.
"""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context
from flowmosaic.maintain import maintain

NAME = "maintain"
HELP = "OPTIMIZE, VACUUM and checkpoint the warehouse's tables"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        nargs="+",
        metavar="TABLE",
        help="table names, space- or comma-separated (default: every table present)",
    )
    p.add_argument(
        "--retain-hours",
        type=int,
        metavar="N",
        help="VACUUM retention in hours (default: each table's "
        "delta.deletedFileRetentionDuration, 7 days); raised when a version "
        "recorded in backtest_runs needs it, unless --force",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="keep --retain-hours even if versions recorded in backtest_runs then "
        "no longer time-travel (they are named)",
    )


def run(ctx: Context) -> int:
    a = ctx.args
    names = [n.strip() for item in (a.tables or []) for n in item.split(",") if n.strip()]
    report = maintain(
        ctx.spark, ctx.settings, names or None, a.retain_hours, a.force, progress=ctx.say
    )
    ctx.say(report.describe())
    return 0
