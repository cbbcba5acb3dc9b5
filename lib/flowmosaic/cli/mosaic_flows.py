"""`flowmosaic mosaic-flows`: the same chain as country-flows, kept by investor domicile and
investor type -> gold investor_country_flows."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context
from flowmosaic.cli.country_flows import add_window_arguments, run_grain

NAME = "mosaic-flows"
HELP = "country flows by investor domicile and investor type (gold investor_country_flows)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_window_arguments(p)


def run(ctx: Context) -> int:
    return run_grain(ctx, "investor")
