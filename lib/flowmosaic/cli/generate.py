"""`flowmosaic generate`: a synthetic fund universe as raw vendor-style files."""

from __future__ import annotations

import argparse

from flowmosaic import synth
from flowmosaic.cli.context import Context

NAME = "generate"
HELP = "write a synthetic fund universe (raw vendor-style files)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", choices=list(synth.SCALES), default="tiny")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default=None,
        help="flow file format (default: csv, parquet at medium and large scale)",
    )
    p.add_argument(
        "--effect",
        type=float,
        default=None,
        help="planted strength linking lagged country flow %% to forward returns "
        "(0 = none; default: the scale's standard effect)",
    )
    p.add_argument(
        "--alloc-effect",
        type=float,
        default=0.0,
        help="planted strength linking the common change of countries' allocation weights to "
        "returns while it is public (the allocation signals' planted truth; default 0: none)",
    )


def run(ctx: Context) -> int:
    a = ctx.args
    ctx.say(
        synth.generate(
            ctx.spark,
            a.out,
            scale=a.scale,
            seed=a.seed,
            fmt=a.format,
            effect=a.effect,
            alloc_effect=a.alloc_effect,
        ).describe()
    )
    return 0
