"""The demo: the whole journey on the embedded default.

synthetic universe -> silver Delta tables -> country_flows (both standard universes) -> strategy
files -> two backtests (G10 rates on bond flows with yields; 52 countries on equity flows with
total returns) with their reports.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession

from flowmosaic import country_flows, synth
from flowmosaic.backtest import api as bt
from flowmosaic.backtest.io import load_flows_from_table, read_market_file
from flowmosaic.config import Settings, load_countries
from flowmosaic.export.strategy_files import export_universe
from flowmosaic.ingest import ingest_paths

UNIVERSES = ["FloPctCtry", "FloPctCtry-B"]


def reusable(raw: Path, scale: str, seed: int) -> bool:
    """A universe written earlier with the same scale, seed and the scale's current effect."""
    try:
        m = json.loads((raw / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (m.get("scale"), m.get("seed"), m.get("effect")) == (scale, seed,
                                                                synth.SCALES[scale].effect)


def run_demo(spark: SparkSession, settings: Settings, scale: str = "small", seed: int = 7,
             data: str = "data/demo", out: str = "out/demo", regenerate: bool = False,
             say: Callable[[str], None] = print) -> list[Path]:
    """Run every stage; returns the report paths."""
    t0 = time.time()
    raw = Path(data) / f"raw-{scale}-seed{seed}"
    outp = Path(out)

    def stage(n: int, text: str) -> None:
        say(f"\n== {n}/5 {text}")

    stage(1, f"synthetic universe ({scale}, seed {seed}) -> {raw}")
    if reusable(raw, scale, seed) and not regenerate:
        say(f"reusing {raw} (--regenerate to write it again)")
    else:
        say(synth.generate(spark, raw, scale=scale, seed=seed).describe())

    stage(2, f"ingest -> silver Delta tables under {settings.warehouse}")
    say(ingest_paths(spark, settings, directory=str(raw), progress=say).describe())

    stage(3, "country flows for FloPctCtry and FloPctCtry-B -> gold country_flows")
    say(country_flows.run(spark, settings, UNIVERSES, progress=say).describe())

    stage(4, f"strategy files -> {outp}")
    for universe, countries in (("FloPctCtry", None), ("FloPctCtry-B", None),
                                ("FloPctCtry-B", "G10")):
        path, rows, _ = export_universe(spark, settings, universe, outp, countries)
        say(f"  {universe}{' ' + countries if countries else ''}: {rows} flow dates -> {path}")

    stage(5, "backtests")
    g10 = load_countries().groups["G10"]
    runs = [("g10-rates", "FloPctCtry-B", g10, raw / "market" / "yields_10y.csv",
             {"spreads": True}),
            ("country-52", "FloPctCtry", None, raw / "market" / "returns_daily.csv",
             {"returns_kind": "pct"})]
    reports = []
    for name, universe, countries, market, params in runs:
        flows, meta = load_flows_from_table(spark, settings, f"country_flows:{universe}",
                                            countries)
        meta.update(returns=str(market), synthetic=True)
        result = bt.run(flows, read_market_file(market), params, outp / "backtests" / name,
                        meta=meta, quiet=False)
        bt.record_run(spark, settings, result)
        h = result.horizons[0]
        say(f"  {name}: TxB AnnMn {result.value(h, 'AnnMn', 'TxB'):.3f}, "
            f"Sharpe {result.value(h, 'Sharpe', 'TxB'):.0f} at {h} days")
        reports.append(Path(result.extras["paths"]["report.html"]).resolve())

    say(f"\ndemo finished in {time.time() - t0:.0f}s. Reports:")
    for r in reports:
        say(f"  {r}")
    return reports
