"""`flowmosaic demo`: synthetic universe -> Delta tables -> strategy files -> backtest reports."""

from __future__ import annotations

import argparse

from flowmosaic import synth
from flowmosaic.cli.context import Context
from flowmosaic.demo import run_demo

NAME = "demo"
HELP = "synthetic universe -> Delta -> strategy files -> backtest reports"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", choices=list(synth.SCALES), default="small")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", default="data/demo", help="where the raw synthetic files go")
    p.add_argument("--out", default="out/demo", help="strategy files and reports")
    p.add_argument("--regenerate", action="store_true", help="write the raw files even if present")


def run(ctx: Context) -> int:
    a = ctx.args
    run_demo(ctx.spark, ctx.settings, a.scale, a.seed, a.data, a.out, a.regenerate, ctx.say)
    return 0
