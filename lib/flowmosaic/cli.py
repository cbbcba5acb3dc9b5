"""`flowmosaic <command>`: generate | ingest | country-flows | export | backtest | demo."""
from __future__ import annotations

import argparse
import sys
import time

from flowmosaic.errors import FlowmosaicError


def _settings(args):
    from flowmosaic.config import load_settings
    return load_settings(args.conf, warehouse=args.warehouse)


def _spark(args, app: str):
    from flowmosaic.session import get_spark
    return get_spark(_settings(args), app_name=f"flowmosaic-{app}")


def cmd_generate(args) -> int:
    from flowmosaic import synth
    spark = _spark(args, "generate")
    summary = synth.generate(spark, args.out, scale=args.scale, seed=args.seed,
                             fmt=args.format, effect=args.effect)
    print(summary.describe())
    return 0


def cmd_ingest(args) -> int:
    from flowmosaic import ingest
    settings = _settings(args)
    spark = _spark(args, "ingest")
    report = ingest.ingest_paths(
        spark, settings, directory=args.input, flows=args.flows,
        share_classes=args.share_classes, funds=args.funds, allocations=args.allocations)
    print(report.describe())
    return 0


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", help="settings YAML (default conf/local.yaml or $FLOWMOSAIC_CONF)")
    p.add_argument("--warehouse", help="warehouse directory or URI (overrides the settings file)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmosaic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a synthetic fund universe (raw vendor-style files)")
    add_common(p)
    p.add_argument("--scale", choices=["tiny", "small", "medium"], default="tiny")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=["csv", "parquet"], default=None,
                   help="flow file format (default: csv, parquet at medium scale)")
    p.add_argument("--effect", type=float, default=None,
                   help="planted strength linking lagged country flow %% to forward returns "
                        "(0 = none; default: the scale's standard effect)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ingest", help="validate raw files into silver Delta tables")
    add_common(p)
    p.add_argument("--input", help="a directory laid out as `generate` writes it")
    p.add_argument("--flows", help="share-class daily flows (CSV/Parquet file or directory)")
    p.add_argument("--share-classes", help="share-class attributes")
    p.add_argument("--funds", help="fund attributes")
    p.add_argument("--allocations", help="country allocations, wide or long")
    p.set_defaults(func=cmd_ingest)

    for register in _plugins():
        register(sub, add_common)
    return parser


def _plugins():
    """Commands defined beside the code they drive (each module offers register_cli)."""
    from flowmosaic import demo, flows_cli
    from flowmosaic.backtest import cli as backtest_cli
    return [flows_cli.register_cli, backtest_cli.register_cli, demo.register_cli]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    try:
        rc = args.func(args)
    except FlowmosaicError as exc:
        print(f"flowmosaic {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(f"[{args.command}] done in {time.time() - started:.1f}s", file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
