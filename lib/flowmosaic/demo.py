"""`flowmosaic demo`: the whole journey on the embedded default.

synthetic universe -> silver Delta tables -> country_flows (both standard universes) -> strategy
files -> two backtests (G10 rates on bond flows with yields; 52 countries on equity flows with
total returns) with their reports.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def _stage(n: int, text: str) -> None:
    print(f"\n== {n}/5 {text}", flush=True)


def _reusable(raw: Path, scale: str, seed: int) -> bool:
    """A universe written earlier with the same scale, seed and the scale's current effect."""
    from flowmosaic.synth import SCALES
    try:
        m = json.loads((raw / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (m.get("scale"), m.get("seed"), m.get("effect")) == (scale, seed, SCALES[scale].effect)


def run_demo(args) -> int:
    from flowmosaic import country_flows, export, ingest, synth
    from flowmosaic.backtest import api as bt
    from flowmosaic.backtest.io import read_market_file
    from flowmosaic.cli import _settings, _spark
    from flowmosaic.config import load_countries

    t0 = time.time()
    settings = _settings(args)
    spark = _spark(args, "demo")
    raw = Path(args.data) / f"raw-{args.scale}-seed{args.seed}"
    out = Path(args.out)

    _stage(1, f"synthetic universe ({args.scale}, seed {args.seed}) -> {raw}")
    if _reusable(raw, args.scale, args.seed) and not args.regenerate:
        print(f"reusing {raw} (--regenerate to write it again)")
    else:
        print(synth.generate(spark, raw, scale=args.scale, seed=args.seed).describe())

    _stage(2, f"ingest -> silver Delta tables under {settings.warehouse}")
    print(ingest.ingest_paths(spark, settings, directory=str(raw)).describe())

    _stage(3, "country flows for FloPctCtry and FloPctCtry-B -> gold country_flows")
    print(country_flows.run(spark, settings, ["FloPctCtry", "FloPctCtry-B"]).describe())

    _stage(4, f"strategy files -> {out}")
    for universe, countries in (("FloPctCtry", None), ("FloPctCtry-B", None), ("FloPctCtry-B", "G10")):
        path, rows, version = export.export(spark, settings, universe, out, countries)
        print(f"  {universe}{' ' + countries if countries else ''}: {rows} flow dates -> {path}")

    _stage(5, "backtests")
    g10 = load_countries().groups["G10"]
    runs = [
        ("g10-rates", "FloPctCtry-B", g10, raw / "market" / "yields_10y.csv",
         {"spreads": True}),
        ("country-52", "FloPctCtry", None, raw / "market" / "returns_daily.csv",
         {"returns_kind": "pct"}),
    ]
    reports = []
    for name, universe, countries, market, params in runs:
        flows, version = export.country_matrix(spark, settings, universe, countries)
        returns = read_market_file(market)
        source = f"country_flows:{universe}@{version}"
        result = bt.run(flows, returns, params, out / "backtests" / name,
                        meta={"source": source, "source_version": version,
                              "returns": str(market), "universe": universe},
                        quiet=False)
        bt.record_run(spark, settings, result, source, version)
        txb = result.value(result.horizons[0], "AnnMn", "TxB")
        sharpe = result.value(result.horizons[0], "Sharpe", "TxB")
        print(f"  {name}: TxB AnnMn {txb:.3f}, Sharpe {sharpe:.0f} at {result.horizons[0]} days")
        reports.append(result.extras["paths"]["report.html"])

    print(f"\ndemo finished in {time.time() - t0:.0f}s. Reports:")
    for r in reports:
        print(f"  {Path(r).resolve()}")
    return 0


def register_cli(sub, add_common) -> None:
    p = sub.add_parser("demo", help="synthetic universe -> Delta -> strategy files -> backtest reports")
    add_common(p)
    p.add_argument("--scale", choices=["tiny", "small", "medium"], default="small")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", default="data/demo", help="where the raw synthetic files go")
    p.add_argument("--out", default="out/demo", help="strategy files and reports")
    p.add_argument("--regenerate", action="store_true", help="write the raw files even if present")
    p.set_defaults(func=run_demo)
