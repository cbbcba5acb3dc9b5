"""`flowmosaic export`: vendor-format strategy files from gold country_flows."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context
from flowmosaic.export.groups import export_groups
from flowmosaic.export.strategy_files import export_universe

NAME = "export"
HELP = "write vendor-format strategy files from country_flows"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--universe", required=True, help="universe name(s), comma-separated")
    p.add_argument("--out", required=True, help="directory; files go to OUT/Strategies/daily/")
    p.add_argument("--countries", help="G10, another group, or a list AU,CA,... (default: all 52)")
    p.add_argument("--version", type=int, help="country_flows table version (default: current)")
    p.add_argument(
        "--groups",
        nargs="?",
        const="",
        default=None,
        help="also write OUT/Strategies/daily/<Universe>-groups.csv: flow %% of country groups "
        "(ratio of the members' sums); 'regions', 'markets', or group names (G10,EM,...); "
        "alone: every group",
    )


def run(ctx: Context) -> int:
    a = ctx.args
    for universe in a.universe.split(","):
        path, rows, version = export_universe(
            ctx.spark, ctx.settings, universe.strip(), a.out, a.countries, a.version
        )
        ctx.say(f"{universe}: {rows} flow dates -> {path} (country_flows@{version})")
        if a.groups is not None:
            gpath, grows, _ = export_groups(
                ctx.spark, ctx.settings, universe.strip(), a.out, a.groups or None, version
            )
            ctx.say(f"{universe}: {grows} flow dates of country groups -> {gpath}")
    return 0
