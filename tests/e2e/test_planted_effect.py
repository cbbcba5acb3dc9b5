"""The backtest finds a planted effect through the whole pipeline, and finds none when there is
none: tiny synthetic universe (seed 3, effect 2, allocation-change effect 3) -> ingest -> country
flows and country signals -> backtests against its own returns, and against the returns of the
universe generated with neither effect (the generator draws every noise term independently of
the effects, so those returns are the same market without the planted terms; the flows of the
two universes differ only through the assets' returns and the planted weight changes, which
hardly move the flow %).

Flow %: the planted flow effect is found, and not in the returns without it. The allocation
signals: AllocMo and AllocTrend find the planted allocation-change effect (countries whose
weights rise across funds outperform while the snapshot is public), HerfindahlEq (a
concentration, which a common change of weights leaves alike) does not, and AllocMo finds
nothing in the returns without the effect."""

import pytest

from flowmosaic import synth
from flowmosaic.backtest import api as bt
from flowmosaic.backtest.engine import BacktestParams
from flowmosaic.backtest.io import read_market_file, signal_rows
from flowmosaic.backtest.signal import SignalFrames
from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.export.strategy_files import country_matrix
from flowmosaic.ingest import ingest_paths
from flowmosaic.signals import job as signals_job

pytestmark = pytest.mark.slow
HORIZON = 20  # the effect loads on the 20-row compounded flow, lagged: tested at 20 weekdays
# The allocation-change effect of each universe: 3 where the flow effect is planted (a monthly
# signal over 2 years has few independent dates; at 1 the t-stat is about 3), none in the other
ALLOC = {2.0: 3.0, 0.0: 0.0}


def _txb_tstat(flows, raw) -> float:
    returns = read_market_file(raw / "market" / "returns_daily.csv")
    result = bt.run(flows, returns, {"returns_kind": "pct", "horizons": (5, HORIZON)})
    return result.value(HORIZON, "TStat", "TxB")


def _signal_tstat(frames, raw) -> float:
    returns = read_market_file(raw / "market" / "returns_daily.csv")
    p = BacktestParams(returns_kind="pct", horizons=(5, HORIZON)).for_signal(frames.name)
    return bt.run(None, returns, p, signal_input=frames).value(HORIZON, "TStat", "TxB")


def test_planted_effect_is_found_and_absent_effect_is_not(spark, make_settings, tmp_path):
    # effect 2: at 1 the tiny universe (2 years, 80 funds) sits right at t = 3 for this seed
    raw = {effect: tmp_path / f"raw-effect{effect}" for effect in (2.0, 0.0)}
    for effect, out in raw.items():
        # daily reporters only (vendor_model=False): the effect lives in the daily flows, and
        # the weekly and monthly files would only add ingest time here
        synth.generate(
            spark,
            out,
            scale="tiny",
            seed=3,
            effect=effect,
            alloc_effect=ALLOC[effect],
            vendor_model=False,
        )
    settings = make_settings(tmp_path / "wh")
    ingest_paths(spark, settings, directory=str(raw[2.0]))
    country_flows_run(spark, settings, "FloPctCtry", progress=lambda _m: None)
    flows, _ = country_matrix(spark, settings, "FloPctCtry")
    with_effect = _txb_tstat(flows, raw[2.0])
    without = _txb_tstat(flows, raw[0.0])
    print(
        f"TxB t-stat at {HORIZON} weekdays: effect 2 -> {with_effect:.2f}, "
        f"effect 0 -> {without:.2f}"
    )
    assert with_effect > 3, with_effect
    assert without < 3, without

    signals_job.run(
        spark, settings, "FloPctCtry", signals="AllocMo,AllocTrend,HerfindahlEq", progress=str
    )
    path = settings.table_path("country_signals")
    rows, _ = signal_rows(spark, path, "FloPctCtry", None, None)
    t = {
        name: _signal_tstat(SignalFrames.from_rows(rows, name), raw[2.0])
        for name in ("AllocMo", "AllocTrend", "HerfindahlEq")
    }
    t_none = _signal_tstat(SignalFrames.from_rows(rows, "AllocMo"), raw[0.0])
    print(f"signal TxB t-stats at {HORIZON} weekdays: {t}; AllocMo without the effect {t_none:.2f}")
    assert t["AllocMo"] > 3 and t["AllocTrend"] > 3, t
    assert abs(t["HerfindahlEq"]) < 3, t
    assert abs(t_none) < 3, t_none
