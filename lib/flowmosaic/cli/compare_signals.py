"""`flowmosaic compare-signals`: flow % and the country signals of one universe through the
same backtest, side by side (docs/signals.md, "Comparing signals").

    flowmosaic compare-signals --universe FloPctCtry --returns idx.csv --pct-returns --out cmp

Reads country_flows and country_signals (their current versions, recorded on the page) and
writes compare.html with performance.csv, ic.csv, turnover.csv, correlation.csv, years.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from flowmosaic.backtest import compare
from flowmosaic.backtest import io as bio
from flowmosaic.backtest.factor import parse_periods
from flowmosaic.cli.backtest import add_backtest_options, params_from_args
from flowmosaic.cli.context import Context
from flowmosaic.config import load_countries
from flowmosaic.signals.job import pick_signals
from flowmosaic.signals.names import SIGNALS

NAME = "compare-signals"
HELP = "flow % and country signals through the same backtest, one comparison page"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--universe", required=True, help="the universe (country_flows, signals)")
    p.add_argument(
        "--signals",
        help="signal names, comma-separated (default: every signal the table holds for the "
        f"universe, of {', '.join(SIGNALS)})",
    )
    p.add_argument("--no-flow-pct", action="store_true", help="leave flow %% (country_flows) out")
    add_backtest_options(p)
    p.add_argument("--membership", help="CSV with columns country,from,to (universe membership)")
    p.add_argument("--title", help="the page's title")
    p.add_argument(
        "--synthetic", action="store_true", help="mark the page as built from synthetic data"
    )
    p.add_argument("--out", required=True, help="output directory")


def run(ctx: Context) -> int:
    a = ctx.args
    t0 = time.time()
    params = params_from_args(a)
    names = pick_signals(a.signals) if a.signals else None
    periods = parse_periods(a.periods)
    countries = load_countries().resolve(a.countries) if a.countries else None
    spark, s = ctx.spark, ctx.settings
    meta: dict = {"universe": a.universe, "returns": str(Path(a.returns).resolve())}

    flows = None
    if not a.no_flow_pct:
        flows, fmeta = bio.load_flows_from_table(spark, s, f"country_flows:{a.universe}", countries)
        meta["country_flows"] = f"{fmeta['table_path']} version {fmeta['source_version']}"
    signals, smeta = bio.load_signals_from_table(spark, s, a.universe, names, countries)
    path, version = smeta["table_path"], smeta["source_version"]
    meta["country_signals"] = f"{path} version {version}"
    ctx.say(
        f"[compare-signals] {a.universe}: {'flow % and ' if flows is not None else ''}"
        f"{len(signals)} signal(s) from {path} version {version}"
    )
    market = bio.read_market_file(a.returns)
    membership = bio.read_membership(a.membership) if a.membership else None
    comp = compare.run_all(
        flows,
        signals,
        market,
        params,
        membership=membership,
        periods=periods or None,
        pooled=not a.sum,
        say=ctx.say,
    )
    meta.update(title=a.title or f"Signal comparison: {a.universe}", synthetic=a.synthetic)
    paths = compare.write(comp, a.out, meta)
    ctx.say(
        f"[compare-signals] {len(comp.names)} compared, {len(comp.skipped)} skipped "
        f"({time.time() - t0:.1f}s)"
    )
    print(f"report: {paths['compare.html']}")
    return 0
