"""A planted effect on seeded synthetic data: returns over the next 20 weekdays driven by the
lagged compounded flow (see flowmosaic.backtest.synthetic). The t-stat is summary statistic
'TStat' (mean / sd x sqrt(n) of the TxB series, averaged over the non-overlapping sub-series)."""

from __future__ import annotations

import pytest

from flowmosaic.backtest import api
from flowmosaic.backtest.engine import BacktestParams, run_backtest
from flowmosaic.backtest.synthetic import make_planted

PARAMS = BacktestParams(horizons=(5, 20, 65))


@pytest.mark.parametrize("seed", [11, 12])
def test_planted_effect_is_found_at_horizon_20(seed):
    flows, levels = make_planted(30, 6, strength=0.05, seed=seed, missing=0.02)
    res = run_backtest(flows, levels, PARAMS)
    assert res.value(20, "TStat", "TxB") > 3
    assert res.value(20, "AnnMn", "TxB") > 0
    # the ranking is monotone in the planted direction: Q1 above Q5
    assert res.value(20, "AnnMn", "Q1") > res.value(20, "AnnMn", "Q5")


@pytest.mark.parametrize("seed", [11, 12])
def test_no_effect_without_planting(seed):
    flows, levels = make_planted(30, 6, strength=0.0, seed=seed, missing=0.02)
    res = run_backtest(flows, levels, PARAMS)
    assert abs(res.value(20, "TStat", "TxB")) < 3


def test_factor_view_agrees_and_does_not_change_the_backtest():
    flows, levels = make_planted(30, 6, strength=0.05, seed=11)
    plain = run_backtest(flows, levels, PARAMS)
    full = api.run(flows, levels, PARAMS, periods="2010-2012,2013-2015")
    assert full.summary.equals(plain.summary)
    fac = full.extras["factor"]
    ic = fac.ic_summary.set_index(["period", "horizon"])
    assert ic.loc[("All", 20), "mean"] > 0.05 and ic.loc[("All", 20), "tstat"] > 3
    assert {"2010-2012", "2013-2015", "2010", "2015"} <= set(fac.ic_summary["period"])
    sub = fac.period_summary
    assert set(sub["period"]) >= {"2010-2012", "2013-2015", "2011"}
    # a sub-period summary equals the full summary when the period covers everything
    whole = api.run(flows, levels, PARAMS, periods="2000-2030").extras["factor"].period_summary
    got = whole[whole.period == "2000-2030"].drop(columns="period").reset_index(drop=True)
    assert got.equals(plain.summary)
    assert 0.5 < fac.rank_autocorr.mean() < 1  # a 20-day compounded signal is persistent
