"""`flowmosaic coverage --universe U [--out DIR]`: per year and month, the funds and
month-end assets of all funds, of the universe's funds, of its daily reporters and of its
daily reporters with allocations (docs/coverage.md): gold `coverage`, and per universe
DIR/coverage-<U>.csv and DIR/coverage-<U>.html."""

from __future__ import annotations

import argparse

from flowmosaic import coverage
from flowmosaic.cli.context import Context
from flowmosaic.coverage import report as coverage_report

NAME = "coverage"
HELP = (
    "funds and month-end assets per year and month: all funds, a universe's, its daily "
    "reporters, those with allocations (gold coverage, CSV, HTML)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--universe", required=True, help="universe name(s) from universes.yaml, comma-separated"
    )
    p.add_argument(
        "--out",
        default="out/coverage",
        help="directory for coverage-<U>.csv and coverage-<U>.html (default: %(default)s)",
    )
    p.add_argument("--universes", help="universes YAML (default conf/universes.yaml)")
    p.add_argument(
        "--synthetic", action="store_true", help="mark the pages as built from synthetic data"
    )


def run(ctx: Context) -> int:
    a = ctx.args
    result = coverage.run(
        ctx.spark, ctx.settings, a.universe, universes_path=a.universes, progress=ctx.say
    )
    ctx.say(result.describe())
    meta = {"synthetic": a.synthetic, **result.meta(ctx.settings)}
    for universe, paths in coverage_report.write_run(result, a.out, meta).items():
        ctx.say(f"coverage of {universe}: {paths['html']} and {paths['csv']}")
    return 0
