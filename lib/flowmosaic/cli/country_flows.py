"""`flowmosaic country-flows`: silver fund-days -> gold country_flows over a window."""

from __future__ import annotations

import argparse

from flowmosaic import country_flows
from flowmosaic.calendar import FREQUENCIES
from flowmosaic.cli.context import Context, day, month
from flowmosaic.country_flows import periods
from flowmosaic.errors import InputError

NAME = "country-flows"
HELP = (
    "aggregate fund-days to daily country flows per universe (gold country_flows); weekly or "
    "monthly with --frequency"
)


def add_window_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--universe", required=True, help="universe name(s) from universes.yaml, comma-separated"
    )
    p.add_argument(
        "--start", help="first flow date (yyyy-mm-dd or yyyymmdd; default: first in data)"
    )
    p.add_argument("--end", help="last flow date (default: last in data)")
    p.add_argument(
        "--alloc-month",
        help="YYYY-MM: recompute just the flow dates this allocation "
        "month can affect (after (re)ingesting it)",
    )
    p.add_argument(
        "--allocation-max-age-months",
        type=int,
        default=0,
        help="carry a fund's last snapshot forward up to N months (default 0: off)",
    )
    p.add_argument("--universes", help="universes YAML (default conf/universes.yaml)")
    p.add_argument(
        "--engine",
        choices=list(country_flows.job.ENGINES),
        default="matrix",
        help="matrix (default): a matrix product per allocation month; join: Spark "
        "equi-joins (same numbers)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_window_arguments(p)
    p.add_argument(
        "--frequency",
        choices=["daily", *FREQUENCIES],
        default="daily",
        help="daily (default): country_flows from daily reporters; weekly / monthly: "
        "weekly_country_flows / monthly_country_flows over every fund able to report at that "
        "grain (own weekly or monthly rows, else daily rows summed), for the periods ending "
        "between --start and --end",
    )


def run_grain(ctx: Context, grain: str) -> int:
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
        grain=grain,
        progress=ctx.say,
    )
    ctx.say(result.describe())
    return 0


def run(ctx: Context) -> int:
    a = ctx.args
    if a.frequency == "daily":
        return run_grain(ctx, "country")
    if a.alloc_month or a.allocation_max_age_months or a.engine != "matrix":
        raise InputError(
            f"--frequency {a.frequency} takes --universe, --start, --end and --universes only"
        )
    result = periods.run(
        ctx.spark,
        ctx.settings,
        a.universe,
        a.frequency,
        day(a.start),
        day(a.end),
        a.universes,
        progress=ctx.say,
    )
    ctx.say(result.describe())
    return 0
