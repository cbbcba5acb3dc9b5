"""compare-signals' tables on a planted effect (flowmosaic.backtest.compare): flow % whose
compounded value drives returns, the same flows given as a daily signal, a signal of pure
noise, a monthly signal and one too short for its look-back. What could go wrong: a signal
compared on other parameters than the others, the correlation or the yearly leader taken from
the wrong backtest, a failing signal stopping the comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest import api as bt_api
from flowmosaic.backtest.compare import FLOW_PCT, rank_correlation, run_all, write
from flowmosaic.backtest.engine import BacktestParams
from flowmosaic.backtest.signal import SignalFrames
from flowmosaic.backtest.synthetic import make_planted

PARAMS = BacktestParams(horizons=(5, 20))


def _long(wide: pd.DataFrame, name: str, den: float = 1.0) -> pd.DataFrame:
    long = wide.stack(future_stack=True).dropna().rename("value").reset_index()
    long.columns = ["date", "country", "value"]
    return long.assign(signal=name, numerator=long["value"] * den, denominator=den)


@pytest.fixture(scope="module")
def planted():
    flows, levels = make_planted(20, 4, strength=0.05, seed=21)
    noise = pd.DataFrame(
        np.random.default_rng(3).normal(size=flows.shape), index=flows.index, columns=flows.columns
    )
    month_ends = flows.groupby(flows.index.to_period("M")).tail(1)
    rows = pd.concat(
        [
            _long(flows, "FloTrend"),
            _long(noise, "FloDiff"),
            _long(month_ends, "AllocMo"),
            _long(flows.iloc[:5], "ActWtTrend"),  # 5 rows: no 20-row look-back
        ]
    )
    signals = {
        n: SignalFrames.from_rows(rows, n) for n in ("FloTrend", "FloDiff", "AllocMo", "ActWtTrend")
    }
    return flows, levels, signals


def test_every_signal_on_the_same_backtest(planted):
    flows, levels, signals = planted
    comp = run_all(flows, signals, levels, PARAMS)
    assert comp.names == [FLOW_PCT, "FloTrend", "FloDiff", "AllocMo"]
    assert "ActWtTrend" in comp.skipped and "no signal" in comp.skipped["ActWtTrend"]
    # each backtest is the one the single-signal path gives with the signal's look-back
    alone = bt_api.run(None, levels, PARAMS.for_signal("FloDiff"), signal_input=signals["FloDiff"])
    pd.testing.assert_frame_equal(comp.results["FloDiff"].summary, alone.summary)
    assert comp.results["AllocMo"].params.lookback == 1
    assert comp.results["FloTrend"].params.pooled and comp.results[FLOW_PCT].params.compound
    perf = comp.performance.set_index(["signal", "horizon"])
    assert len(perf) == 4 * 2
    assert perf.loc[("FloDiff", 20), "Sharpe"] == alone.value(20, "Sharpe", "TxB")
    # the planted effect: flow % and the same flows pooled find it, noise does not
    assert perf.loc[(FLOW_PCT, 20), "TStat"] > 3 and perf.loc[("FloTrend", 20), "TStat"] > 3
    assert abs(perf.loc[("FloDiff", 20), "TStat"]) < 3


def test_correlation_ic_signs_and_yearly_leaders(planted):
    flows, levels, signals = planted
    comp = run_all(flows, signals, levels, PARAMS)
    c = comp.correlation
    assert c.loc[FLOW_PCT, "FloTrend"] > 0.95  # the same flows, compounded vs pooled
    assert abs(c.loc[FLOW_PCT, "FloDiff"]) < 0.1  # noise
    assert c.loc["FloDiff", FLOW_PCT] == c.loc[FLOW_PCT, "FloDiff"]
    rho, n = rank_correlation(comp.results[FLOW_PCT].signal, comp.results["FloDiff"].signal)
    assert rho == c.loc[FLOW_PCT, "FloDiff"] and n > 100
    ic = comp.ic[(comp.ic.period == "All") & (comp.ic.horizon == 20)].set_index("signal")
    assert ic.loc[FLOW_PCT, "sign"] == "+" and ic.loc[FLOW_PCT, "mean"] > 0
    # the leader of a year is the signal with the highest TxB that year
    yr = comp.years.set_index("year")
    for year, row in yr.iterrows():
        values = row[comp.names].astype(float)
        assert row["leader"] == values.idxmax(), year
        cal = comp.results[row["leader"]].calendar_years.set_index("year")
        assert cal.loc[year, "TxB"] == values.max()


def test_the_page_and_csvs(planted, tmp_path):
    flows, levels, signals = planted
    comp = run_all(flows, {"FloDiff": signals["FloDiff"]}, levels, PARAMS)
    paths = write(comp, tmp_path, {"synthetic": True, "universe": "U"})
    page = paths["compare.html"].read_text()
    assert "Synthetic data" in page and "FloDiff" in page and FLOW_PCT in page
    perf = pd.read_csv(paths["performance.csv"])
    assert set(perf.signal) == {FLOW_PCT, "FloDiff"} and list(perf.columns[2:]) == [
        "AnnMn",
        "Sharpe",
        "TStat",
    ]
    corr = pd.read_csv(paths["correlation.csv"]).set_index("signal")
    assert corr.loc["FloDiff", "FloDiff"] == 1.0
