"""uRet and AnnTo through run_backtest on a small constructed input with leading dates that
have returns but no bins, a country whose returns start late and trailing dates without
forward returns, in index and spreads mode.

The expected values are derived here with plain numpy from the reference backtest's
definitions, not with flowmosaic's statistics:
- rows: every Friday from the week of the first flow row to the week of the last, whether or
  not any country has a bin yet;
- uRet(F): the mean forward return over every country that has one on F;
- signal: the 20-row compounded flow two flow rows earlier, on the last flow row of each week;
- bins: by signal, highest first, over the countries with both a signal and a forward return;
- AnnTo of bin q: per sub-series (rows s, s+k, ... with k = h / 5), the mean over consecutive
  rows of 100 - 100 x kept / max(old size, new size), a missing bin being empty and a pair of
  empty bins left out; x 260 / h; then the plain mean over the sub-series; TxB = Q1 + Q5.
- uRet AnnMn / AnnSd / Sharpe / HitRate: per sub-series over the rows with a uRet, then the
  plain mean over the sub-series.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest.engine import BacktestParams, run_backtest
from flowmosaic.calendar import flow_dates

COUNTRIES = ["AU", "CA", "DE", "GB", "JP"]
FLOW = {"AU": 0.5, "CA": 0.4, "DE": 0.3, "GB": 0.2, "JP": 0.1}  # daily flow %, constant ...
AU_TURNS = pd.Timestamp("2021-01-11")  # ... except AU's, -0.5 from here: it drops to the bottom
HORIZONS = (5, 10, 15, 20)
# Flow rows: flow dates Mon 2020-11-02 .. Fri 2021-02-26 (25 December and 1 January, both
# Fridays, are not flow dates). The reference's rows are the Fridays of their weeks.
FRIDAYS = pd.date_range("2020-11-06", "2021-02-26", freq="W-FRI")
# With a 20-row window and a delay of 2 rows the first signal is on the 22nd flow row:
# Nov 2-6, 9-13, 16-20, 23-27 are rows 1-20, Mon Nov 30 row 21, Tue Dec 1 row 22 -> the
# first Friday with bins is 2020-12-04; 11-06, 11-13, 11-20 and 11-27 have returns but no bin.
SIZES = {5: [1, 1, 1, 1, 1], 4: [1, 1, 0, 1, 1]}  # bin sizes for 5 and 4 names in 5 bins
JP_START = pd.Timestamp("2020-12-14")  # JP's market series starts here
MARKET_END = pd.Timestamp("2021-02-19")  # no forward return reaches past this weekday


def _inputs(spreads: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    fd = pd.DatetimeIndex(
        pd.to_datetime(
            flow_dates(pd.Timestamp("2020-11-02").date(), pd.Timestamp("2021-02-26").date())
        )
    )
    flows = pd.DataFrame({c: FLOW[c] for c in COUNTRIES}, index=fd)
    flows.loc[flows.index >= AU_TURNS, "AU"] = -0.5
    wd = pd.bdate_range("2020-11-02", MARKET_END)  # every weekday, holidays included
    rng = np.random.default_rng(7)
    if spreads:
        market = 1.0 + np.cumsum(rng.normal(0.0, 0.04, (len(wd), 5)), axis=0)  # yields
    else:
        market = 100.0 * np.cumprod(1.0 + rng.normal(0.05, 1.0, (len(wd), 5)) / 100.0, axis=0)
    market = pd.DataFrame(market, index=wd, columns=COUNTRIES)
    market.loc[market.index < JP_START, "JP"] = np.nan
    return flows, market


def _rows_and_signal(flows: pd.DataFrame, daily: bool) -> tuple[pd.DatetimeIndex, np.ndarray]:
    x = flows.to_numpy(dtype=float)
    logc = np.vstack([np.zeros((1, 5)), np.cumsum(np.log1p(x / 100.0), axis=0)])
    comp = np.full(x.shape, np.nan)
    comp[19:] = 100.0 * np.expm1(logc[20:] - logc[:-20])  # rows t-19 .. t
    lagged = np.full(x.shape, np.nan)
    lagged[2:] = comp[:-2]  # row t holds the value of row t - 2
    if daily:  # every flow row
        return flows.index, lagged
    rows = [
        np.flatnonzero((flows.index <= f) & (flows.index > f - pd.Timedelta(days=7)))[-1]
        for f in FRIDAYS
    ]  # the last flow row of each Friday's week
    return pd.DatetimeIndex(FRIDAYS), lagged[rows]


def _expected(
    flows: pd.DataFrame, market: pd.DataFrame, h: int, spreads: bool, daily: bool = False
) -> dict[str, float]:
    dates, S = _rows_and_signal(flows, daily)
    lv = market.to_numpy(dtype=float)
    pos = market.index.get_indexer(dates)  # -1: beyond the market series
    R = np.full((len(dates), 5), np.nan)
    for i, p in enumerate(pos):
        if p >= 0 and p + h < len(lv):
            R[i] = lv[p + h] - lv[p] if spreads else 100.0 * (lv[p + h] / lv[p] - 1.0)
    R[np.abs(R) < 1e-6] = np.nan
    B = np.zeros((len(dates), 5))  # 0 = not in any bin
    for i in range(len(dates)):
        names = [
            j
            for j in np.argsort(-S[i], kind="stable")
            if np.isfinite(S[i, j]) and np.isfinite(R[i, j])
        ]
        if names:
            B[i, names] = np.repeat(np.arange(1, 6), SIZES[len(names)])
    k, A = (h if daily else h // 5), 260.0 / h
    out: dict[str, list[float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        u = np.nanmean(R, axis=1)  # every country with a forward return
        for s in range(k):
            x = u[s::k][np.isfinite(u[s::k])]
            out.setdefault("AnnMn", []).append(x.mean() * A)
            out.setdefault("AnnSd", []).append(x.std(ddof=1) * math.sqrt(A))
            out.setdefault("Sharpe", []).append(100 * x.mean() * A / (x.std(ddof=1) * math.sqrt(A)))
            out.setdefault("HitRate", []).append(50 * np.sign(x).mean())
            b = B[s::k]
            for q in range(1, 6):
                old, new = b[:-1] == q, b[1:] == q
                size = np.maximum(old.sum(axis=1), new.sum(axis=1))
                kept = (old & new).sum(axis=1)
                to = (100.0 - 100.0 * kept[size > 0] / size[size > 0]).mean()
                out.setdefault(f"Q{q}", []).append(to * A)
    exp = {key: float(np.mean(v)) for key, v in out.items()}
    exp["TxB"] = exp["Q1"] + exp["Q5"]
    return exp


@pytest.mark.parametrize("spreads", [False, True], ids=["index", "spreads"])
def test_uret_and_turnover_match_the_reference_definitions(spreads):
    flows, market = _inputs(spreads)
    res = run_backtest(flows, market, BacktestParams(horizons=HORIZONS, spreads=spreads))
    assert res.bins[5].loc["2021-02-05", "AU"] == 5  # AU's flows turned: it moved to the bottom
    for h in HORIZONS:
        t, b = res.bin_returns[h], res.bins[h]
        # the rows are the reference's: every Friday, before the first bin and after the last
        assert t.index.equals(pd.DatetimeIndex(FRIDAYS, name="date"))
        assert b.loc[:"2020-11-27"].isna().all(axis=None)
        assert t.loc[:"2020-11-27", "uRet"].notna().all()
        assert b.loc["2020-12-04"].notna().sum() == 4  # JP has no return yet: 4 names
        assert b.loc["2020-12-04", "AU"] == 1
        exp = _expected(flows, market, h, spreads)
        for stat in ("AnnMn", "AnnSd", "Sharpe", "HitRate"):
            assert res.value(h, stat, "uRet") == pytest.approx(exp[stat], abs=1e-6), (h, stat)
        for col in ("Q1", "Q2", "Q3", "Q4", "Q5", "TxB"):
            assert res.value(h, "AnnTo", col) == pytest.approx(exp[col], abs=1e-6), (h, col)
        assert res.value(h, "AnnTo", "uRet") == 0
        # Beta stays defined although uRet has dates where no bin has a return
        assert np.isfinite(res.value(h, "Beta", "TxB"))


def test_percent_returns_give_the_index_backtest():
    # The index as percent daily returns on every weekday, 25 December and 1 January included;
    # JP's first return is the day after its first level, where its index restarts at 100.
    flows, market = _inputs(spreads=False)
    pct = 100.0 * (market / market.shift(1) - 1.0)
    assert pct.loc["2020-12-25"].notna().all() and pct.loc["2021-01-01"].notna().all()
    params = BacktestParams(horizons=HORIZONS)
    want = run_backtest(flows, market, params).summary
    got = run_backtest(flows, pct, BacktestParams(horizons=HORIZONS, returns_kind="pct")).summary
    pd.testing.assert_frame_equal(got, want, rtol=1e-9, atol=1e-9)


def test_daily_trade_dates_keep_the_first_flow_rows():
    # Trading every flow date: the rows are the flow dates themselves (25 December and 1 January
    # are not among them); the first 21 have returns but no signal yet. h = 2 and 3 average 2
    # and 3 interleaved sub-series.
    flows, market = _inputs(spreads=False)
    res = run_backtest(flows, market, BacktestParams(horizons=(2, 3), trade_day="none"))
    for h in (2, 3):
        t, b = res.bin_returns[h], res.bins[h]
        # flowmosaic's lag moves the last 2 signal rows to flow dates after the data (the
        # reference's keeps the flow rows and drops them); no return reaches them here
        assert t.index[: len(flows)].equals(flows.index.rename("date"))
        assert len(t) == len(flows) + 2 and t.iloc[len(flows) :].isna().all(axis=None)
        assert b.iloc[:21].isna().all(axis=None) and b.iloc[21].notna().sum() == 4
        exp = _expected(flows, market, h, spreads=False, daily=True)
        for stat in ("AnnMn", "AnnSd", "Sharpe", "HitRate"):
            assert res.value(h, stat, "uRet") == pytest.approx(exp[stat], abs=1e-6), (h, stat)
        for col in ("Q1", "Q2", "Q3", "Q4", "Q5", "TxB"):
            assert res.value(h, "AnnTo", col) == pytest.approx(exp[col], abs=1e-6), (h, col)
