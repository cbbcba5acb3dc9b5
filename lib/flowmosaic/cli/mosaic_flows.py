"""`flowmosaic mosaic-flows`: the same chain as country-flows, kept by investor domicile and
investor type -> gold investor_country_flows; then, over the same window and universes, kept
by the share classes' hedge status -> gold investor_hedge_flows (--no-hedge: not)."""

from __future__ import annotations

import argparse

from flowmosaic import country_flows
from flowmosaic.cli.context import Context, day, month
from flowmosaic.cli.country_flows import add_window_arguments
from flowmosaic.country_flows import hedge

NAME = "mosaic-flows"
HELP = (
    "country flows by investor domicile and investor type (gold investor_country_flows), "
    "then by hedge status (gold investor_hedge_flows)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_window_arguments(p)
    p.add_argument(
        "--no-hedge",
        action="store_true",
        help="write investor_country_flows only, not investor_hedge_flows (the hedge split "
        "reads share_class_flows and always runs on Spark joins, whatever --engine says)",
    )


def run(ctx: Context) -> int:
    a = ctx.args
    result = country_flows.run(
        ctx.spark,
        ctx.settings,
        a.universe,
        start=day(a.start),
        end=day(a.end),
        alloc_month=month(a.alloc_month),
        max_age_months=a.allocation_max_age_months,
        universes_path=a.universes,
        engine=a.engine,
        grain="investor",
        progress=ctx.say,
    )
    ctx.say(result.describe())
    if a.no_hedge:
        return 0
    split = hedge.run(
        ctx.spark,
        ctx.settings,
        a.universe,
        start=result.start,  # the window investor_country_flows resolved (--alloc-month too)
        end=result.end,
        max_age_months=a.allocation_max_age_months,
        universes_path=a.universes,
        progress=ctx.say,
    )
    ctx.say(split.describe())
    return 0
