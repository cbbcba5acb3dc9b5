"""The demo: the whole journey on the embedded default.

synthetic universe -> silver Delta tables (+ the synthetic external series) -> country_flows
(the two standard universes and the all-funds views), their weekly and monthly country flows
over every reporter, investor_country_flows and investor_hedge_flows (the mosaic) -> country
signals (docs/signals.md) of the two standard universes -> strategy files (and country
groups) -> two backtests (G10 rates on bond flows with yields; 52 countries on equity flows
with total returns) with their reports, each with a comparison of flow % and the signals on
the same backtest -> two mosaic country pages (JP equity, US bonds, with the hedge split) ->
the coverage of the two standard universes (docs/coverage.md). The data is synthetic and every
page and report says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from flowmosaic import country_flows, coverage, synth
from flowmosaic.backtest import api as bt
from flowmosaic.backtest import compare
from flowmosaic.backtest.engine import BacktestParams
from flowmosaic.backtest.io import (
    load_flows_from_table,
    load_signals_from_table,
    read_market_file,
)
from flowmosaic.config import Settings, load_countries
from flowmosaic.country_flows import hedge, periods
from flowmosaic.coverage import report as coverage_report
from flowmosaic.export.groups import export_groups
from flowmosaic.export.strategy_files import export_universe
from flowmosaic.ingest import ingest_paths
from flowmosaic.maintain import maintain
from flowmosaic.mosaic.page import write_country_page
from flowmosaic.mosaic.tables import external, gold, gold_or_none
from flowmosaic.signals import job as signals_job

UNIVERSES = ["FloPctCtry", "FloPctCtry-B"]
MOSAIC = [("E-ALL", "JP"), ("B-ALL", "US")]  # (universe, country page)
STAGES = 9


def reusable(raw: Path, scale: str, seed: int) -> bool:
    """A universe written earlier with the same scale, seed and the scale's current effect."""
    try:
        m = json.loads((raw / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (m.get("scale"), m.get("seed"), m.get("effect")) == (
        scale,
        seed,
        synth.SCALES[scale].effect,
    )


def run_demo(
    spark: SparkSession,
    settings: Settings,
    scale: str = "small",
    seed: int = 7,
    data: str = "data/demo",
    out: str = "out/demo",
    regenerate: bool = False,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Run every stage; returns the report paths."""
    t0 = time.time()
    raw = Path(data) / f"raw-{scale}-seed{seed}"
    outp = Path(out)

    def stage(n: int, text: str) -> None:
        say(f"\n== {n}/{STAGES} {text} (at {time.time() - t0:.0f} s)")

    stage(1, f"synthetic universe ({scale}, seed {seed}) -> {raw}")
    if reusable(raw, scale, seed) and not regenerate:
        say(f"reusing {raw} (--regenerate to write it again)")
    else:
        say(synth.generate(spark, raw, scale=scale, seed=seed).describe())

    stage(2, f"ingest -> silver Delta tables under {settings.warehouse}")
    say(ingest_paths(spark, settings, directory=str(raw), progress=say).describe())
    series = raw / "market" / "external_series.csv"
    if series.exists():
        say(ingest_paths(spark, settings, external_series=str(series), progress=say).describe())

    views = [u for u, _ in MOSAIC]
    stage(
        3,
        f"country flows for {', '.join(UNIVERSES + views)} -> gold country_flows; weekly and "
        f"monthly over every reporter for {', '.join(UNIVERSES)}; by investor domicile and "
        f"type, and by hedge status, for {', '.join(views)} -> investor_country_flows, "
        f"investor_hedge_flows",
    )
    say(country_flows.run(spark, settings, UNIVERSES + views, progress=say).describe())
    for frequency in ("weekly", "monthly"):
        say(periods.run(spark, settings, UNIVERSES, frequency, progress=say).describe())
    say(country_flows.run(spark, settings, views, grain="investor", progress=say).describe())
    say(hedge.run(spark, settings, views, progress=say).describe())

    stage(4, f"country signals for {', '.join(UNIVERSES)} -> gold country_signals")
    say(signals_job.run(spark, settings, ",".join(UNIVERSES), progress=say).describe())

    stage(5, f"strategy files -> {outp}")
    for universe, group in (("FloPctCtry", None), ("FloPctCtry-B", None), ("FloPctCtry-B", "G10")):
        path, rows, _ = export_universe(spark, settings, universe, outp, group)
        say(f"  {universe}{' ' + group if group else ''}: {rows} flow dates -> {path}")
    path, rows, _ = export_groups(spark, settings, "FloPctCtry", outp, "regions,markets")
    say(f"  FloPctCtry regions and markets (ratio of sums): {rows} flow dates -> {path}")

    stage(6, "backtests, and flow % against the country signals on the same backtest")
    g10 = load_countries().groups["G10"]
    # (name, universe, countries, market file, backtest parameters)
    runs: list[tuple[str, str, tuple[str, ...] | None, Path, dict[str, Any]]] = [
        ("g10-rates", "FloPctCtry-B", g10, raw / "market" / "yields_10y.csv", {"spreads": True}),
        (
            "country-52",
            "FloPctCtry",
            None,
            raw / "market" / "returns_daily.csv",
            {"returns_kind": "pct"},
        ),
    ]
    reports = []
    for name, universe, countries, market, params in runs:
        flows, meta = load_flows_from_table(spark, settings, f"country_flows:{universe}", countries)
        meta.update(returns=str(market), synthetic=True)
        result = bt.run(
            flows,
            read_market_file(market),
            params,
            outp / "backtests" / name,
            meta=meta,
            quiet=False,
        )
        bt.record_run(spark, settings, result)
        h = result.horizons[0]
        say(
            f"  {name}: TxB AnnMn {result.value(h, 'AnnMn', 'TxB'):.3f}, "
            f"Sharpe {result.value(h, 'Sharpe', 'TxB'):.0f} at {h} days"
        )
        reports.append(Path(result.extras["paths"]["report.html"]).resolve())
        signals, smeta = load_signals_from_table(spark, settings, universe, None, countries)
        comp = compare.run_all(
            flows, signals, read_market_file(market), BacktestParams.coerce(params)
        )
        cmp_meta = {
            "title": f"Signal comparison: {name} ({universe})",
            "synthetic": True,
            "country_signals": f"{smeta['table_path']} version {smeta['source_version']}",
            "returns": str(market),
        }
        page = compare.write(comp, outp / "compare" / name, cmp_meta)["compare.html"]
        say(f"  {name}: {len(comp.names)} signals compared -> {page}")
        reports.append(page.resolve())

    stage(7, "mosaic country pages")
    for universe, country in MOSAIC:
        page = write_country_page(
            country,
            universe,
            gold(spark, settings, "investor_country_flows", universe),
            gold(spark, settings, "country_flows", universe),
            external(spark, settings, country),
            outp / "mosaic",
            {"synthetic": True, "source": f"synthetic universe {raw.name}"},
            hedge=gold_or_none(spark, settings, "investor_hedge_flows", universe),
        )
        say(f"  {universe} into {country}: {page}")
        reports.append(page.resolve())

    stage(8, f"coverage of {', '.join(UNIVERSES)} -> gold coverage, {outp / 'coverage'}")
    cov = coverage.run(spark, settings, UNIVERSES, progress=say)
    say(cov.describe())
    meta = {"synthetic": True, "source": f"synthetic universe {raw.name}", **cov.meta(settings)}
    for universe, paths in coverage_report.write_run(cov, outp / "coverage", meta).items():
        say(f"  {universe}: {paths['html']}")
        reports.append(paths["html"].resolve())

    stage(9, "table upkeep (compaction, checkpoints, vacuum keeping what backtests pinned)")
    say(maintain(spark, settings, progress=say).describe())

    say(f"\ndemo finished in {time.time() - t0:.0f}s. Reports:")
    for r in reports:
        say(f"  {r}")
    return reports
