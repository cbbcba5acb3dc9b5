"""Every statistic of section 5 step 9, overlapping horizons (step 10) and the calendar-year
table (step 11), on short series whose values are derived by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest import bins as binning
from flowmosaic.backtest import stats

FRIDAYS = pd.date_range("2021-01-08", periods=6, freq="W-FRI", name="date")


def _table(cols: dict, n: int | None = None) -> pd.DataFrame:
    n = n or len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=FRIDAYS[:n])


def test_each_statistic_by_hand_weekly():
    r = [1.0, -2.0, 3.0, -1.0, 2.0]
    u = [0.5, -1.0, 1.0, 0.0, 0.5]
    w = stats.summarize(_table({"TxB": r, "uRet": u}), horizon=5, step=5)
    A = 52.0  # 260 / 5
    # mean r = 3/5 = 0.6
    assert w.loc["AnnMn", "TxB"] == pytest.approx(0.6 * A)
    # deviations .4 -2.6 2.4 -1.6 1.4 -> squares sum 17.2 -> var 17.2/4 = 4.3
    assert w.loc["AnnSd", "TxB"] == pytest.approx(math.sqrt(4.3) * math.sqrt(A))
    assert w.loc["Sharpe", "TxB"] == pytest.approx(100 * 0.6 * A / (math.sqrt(4.3 * A)))
    # signs + - + - + -> mean 1/5 -> 50 x 0.2 = 10
    assert w.loc["HitRate", "TxB"] == pytest.approx(10.0)
    # OLS on u: u mean 0.2, du = .3 -1.2 .8 -.2 .3; sum du*dr = .12+3.12+1.92+.32+.42 = 5.9,
    # sum du^2 = .09+1.44+.64+.04+.09 = 2.3 -> beta 5.9/2.3; alpha = (0.6 - beta 0.2) x A
    beta = 5.9 / 2.3
    assert w.loc["Beta", "TxB"] == pytest.approx(beta)
    assert w.loc["Alpha", "TxB"] == pytest.approx((0.6 - beta * 0.2) * A)
    # cumulative 0,1,-1,2,1,3: worst fall 1 -> -1 = -2, over period 2 only (row 1)
    assert w.loc["DrawDn", "TxB"] == pytest.approx(-2.0)
    assert w.loc["DDnBeg", "TxB"] == 20210115  # FRIDAYS[1]
    assert w.loc["DDnN", "TxB"] == 1
    # t = mean / sd x sqrt(n) = 0.6 / sqrt(4.3) x sqrt(5)
    assert w.loc["TStat", "TxB"] == pytest.approx(0.6 / math.sqrt(4.3) * math.sqrt(5))
    # uRet on itself: beta 1, alpha 0; its cumulative 0,.5,-.5,.5,.5,1 -> drawdown -1 at row 1
    assert w.loc["Beta", "uRet"] == pytest.approx(1.0)
    assert w.loc["Alpha", "uRet"] == pytest.approx(0.0, abs=1e-12)
    assert w.loc["DrawDn", "uRet"] == pytest.approx(-1.0)
    assert w.loc["AnnMn", "uRet"] == pytest.approx(0.2 * A)


def test_beta_uses_the_rows_where_both_the_column_and_uret_exist():
    # Q1 lacks row 1 where uRet exists: that row is left out (the reference would give NA)
    w = stats.summarize(_table({"Q1": [1.0, np.nan, 3.0, 1.0], "uRet": [0.5, 1.0, 0.0, 2.0]}), 5)
    assert w.loc["AnnMn", "Q1"] == pytest.approx(52 * 5 / 3)  # mean over the 3 present
    # OLS on rows (1, .5), (3, 0), (1, 2): u mean 5/6, du = -1/3 -5/6 7/6, y mean 5/3,
    # dy = -2/3 4/3 -2/3; sum du dy = 2/9 - 10/9 - 7/9 = -15/9; sum du^2 = 1/9 + 25/36 + 49/36
    # = 78/36 -> beta = -10/13; alpha = (5/3 + 10/13 x 5/6) x 52 = (180/78) x 52 = 120
    assert w.loc["Beta", "Q1"] == pytest.approx(-10 / 13)
    assert w.loc["Alpha", "Q1"] == pytest.approx(120.0)
    # uRet's own mean uses all 4 rows: (0.5 + 1 + 0 + 2) / 4 x 52 = 45.5
    assert w.loc["AnnMn", "uRet"] == pytest.approx(45.5)
    # the same rows when uRet is the one missing: same OLS
    w = stats.summarize(_table({"Q1": [1.0, 7.0, 3.0, 1.0], "uRet": [0.5, np.nan, 0.0, 2.0]}), 5)
    assert w.loc["Beta", "Q1"] == pytest.approx(-10 / 13)
    # fewer than 2 common rows: missing
    w = stats.summarize(
        _table({"Q1": [np.nan, np.nan, 3.0, np.nan], "uRet": [0.5, 1.0, 0.0, 2.0]}), 5
    )
    assert np.isnan(w.loc["Beta", "Q1"]) and np.isnan(w.loc["Alpha", "Q1"])
    assert w.loc["Beta", "uRet"] == pytest.approx(1.0)


def test_hit_rate_counts_zero_as_neither():
    w = stats.summarize(_table({"TxB": [1.0, 0.0, -1.0, 2.0], "uRet": [1.0] * 4}), 5)
    assert w.loc["HitRate", "TxB"] == pytest.approx(50 * (1 + 0 - 1 + 1) / 4)  # 12.5


def test_drawdown_counts_missing_as_zero_and_starts_at_the_first_loss():
    # cumulative 0,1,1,0,-1,2: from the peak 1 (rows 0-1) to -1 after row 3 = -2; the latest
    # peak is after row 1, so the drawdown starts at row 2 and lasts 2 periods
    v, i, n = stats.drawdown(np.array([1.0, np.nan, -1.0, -1.0, 3.0]))
    assert (v, i, n) == (-2.0, 2, 2)
    assert stats.drawdown(np.array([1.0, 2.0])) == (0.0, None, 0)
    assert stats.drawdown(np.array([-1.0, 0.5, -2.0])) == (-2.5, 0, 3)


def test_turnover_by_hand():
    # 4 countries A B C D, 2 bins, 3 rebalances:
    #   t0: bin1 {A,B} bin2 {C,D};  t1: bin1 {A,C} bin2 {B,D};  t2: bin1 {A,C} bin2 {B}
    b = pd.DataFrame(
        [[1, 1, 2, 2], [1, 2, 1, 2], [1, 2, 1, np.nan]],
        index=FRIDAYS[:3],
        columns=list("ABCD"),
        dtype=float,
    )
    t = _table(
        {
            "Q1": [1.0, 2.0, 3.0],
            "Q2": [0.0, 1.0, 0.0],
            "TxB": [1.0, 1.0, 3.0],
            "uRet": [0.1, 0.2, 0.3],
        },
        3,
    )
    w = stats.summarize(t, 5, 5, bins=b, n_bins=2)
    # bin 1: t0->t1 kept A of max(2,2): 50; t1->t2 kept 2: 0 -> mean 25 x 52 = 1300
    # bin 2: t0->t1 kept D: 50; t1->t2 {B,D}->{B} kept 1 of max(2,1): 50 -> 50 x 52 = 2600
    assert w.loc["AnnTo", "Q1"] == pytest.approx(1300)
    assert w.loc["AnnTo", "Q2"] == pytest.approx(2600)
    assert w.loc["AnnTo", "TxB"] == pytest.approx(3900)  # Q1 + Q2 (the last bin)
    assert w.loc["AnnTo", "uRet"] == 0


def test_turnover_counts_the_first_transition_into_the_portfolio():
    # test_turnover_by_hand's bins after two leading dates where no country is binned yet:
    #   r0, r1: empty;  r2: bin1 {A,B} bin2 {C,D};  r3: bin1 {A,C} bin2 {B,D};
    #   r4: bin1 {A,C} bin2 {B}
    idx = pd.date_range("2021-01-08", periods=7, freq="W-FRI", name="date")
    rows = [[np.nan] * 4, [np.nan] * 4, [1, 1, 2, 2], [1, 2, 1, 2], [1, 2, 1, np.nan]]
    b = pd.DataFrame(rows, index=idx[:5], columns=list("ABCD"), dtype=float)
    t = pd.DataFrame(
        {
            "Q1": [np.nan, np.nan, 1.0, 2.0, 3.0],
            "Q2": [np.nan, np.nan, 0.0, 1.0, 0.0],
            "TxB": [np.nan, np.nan, 1.0, 1.0, 3.0],
            "uRet": [0.3, 0.1, 0.1, 0.2, 0.3],
        },
        index=idx[:5],
    )
    for fn in (stats.summarize, stats.summarize_reference):
        w = fn(t, 5, 5, b, 2)
        # bin 1: r0->r1 empty on both sides: left out; r1->r2 from empty: 100; r2->r3 kept A
        # of 2: 50; r3->r4 kept 2 of 2: 0 -> mean 150/3 = 50 x 52 = 2600 (1300 without r1->r2)
        assert w.loc["AnnTo", "Q1"] == pytest.approx(2600)
        # bin 2: 100; kept D of 2: 50; {B,D}->{B} kept 1 of max(2,1): 50 -> 200/3 x 52
        assert w.loc["AnnTo", "Q2"] == pytest.approx(200 / 3 * 52)
        assert w.loc["AnnTo", "TxB"] == pytest.approx(2600 + 200 / 3 * 52)
        assert w.loc["AnnTo", "uRet"] == 0
    # a trailing empty date (no forward return yet) counts the move out: 100
    b5 = pd.concat([b, pd.DataFrame([[np.nan] * 4], index=idx[5:6], columns=list("ABCD"))])
    t5 = pd.concat([t, pd.DataFrame({"uRet": [np.nan]}, index=idx[5:6])])
    w = stats.summarize(t5, 5, 5, b5, 2)
    assert w.loc["AnnTo", "Q1"] == pytest.approx((100 + 50 + 0 + 100) / 4 * 52)  # 3250
    assert w.loc["AnnTo", "Q2"] == pytest.approx((100 + 50 + 50 + 100) / 4 * 52)  # 3900

    # Overlapping horizon h = 10: 2 interleaved sub-series, rows 0,2,4,... and 1,3,5,...
    #   r5: bin1 {A,B} bin2 {C,D}
    b6 = pd.concat(
        [b, pd.DataFrame([[1, 1, 2, 2]], index=idx[5:6], columns=list("ABCD"), dtype=float)]
    )
    t6 = pd.concat(
        [t, pd.DataFrame({"Q1": [1.0], "Q2": [0.0], "TxB": [1.0], "uRet": [0.1]}, index=idx[5:6])]
    )
    for fn in (stats.summarize, stats.summarize_reference):
        w = fn(t6, 10, 5, b6, 2)
        # bin 1, rows 0,2,4: empty->{A,B} 100, {A,B}->{A,C} 50 -> 75;
        #        rows 1,3,5: empty->{A,C} 100, {A,C}->{A,B} 50 -> 75;  (75 + 75) / 2 x 26
        assert w.loc["AnnTo", "Q1"] == pytest.approx(75 * 26)  # 1950
        # bin 2, rows 0,2,4: empty->{C,D} 100, {C,D}->{B} kept 0: 100 -> 100;
        #        rows 1,3,5: empty->{B,D} 100, {B,D}->{C,D} kept D: 50 -> 75;  87.5 x 26
        assert w.loc["AnnTo", "Q2"] == pytest.approx(87.5 * 26)  # 2275
        assert w.loc["AnnTo", "TxB"] == pytest.approx((75 + 87.5) * 26)  # 4225


def test_uret_uses_the_dates_before_the_first_bin():
    # 3 countries; on the first two Fridays there is no signal yet (no bin) but returns exist.
    # C has returns but never a signal: it counts in uRet, never in a bin.
    rets = pd.DataFrame(
        {"A": [2.0, -4.0, 3.0, 1.0], "B": [4.0, 1.0, -3.0, 5.0], "C": [np.nan, -3.0, 3.0, 3.0]},
        index=FRIDAYS[:4],
    )
    b = pd.DataFrame(
        {"A": [np.nan, np.nan, 1, 2], "B": [np.nan, np.nan, 2, 1], "C": [np.nan] * 4},
        index=FRIDAYS[:4],
        dtype=float,
    )
    t = binning.bin_returns(b, rets, 2)
    # uRet = row mean over the countries with a return: (2+4)/2 = 3, (-4+1-3)/3 = -2,
    # (3-3+3)/3 = 1, (1+5+3)/3 = 3; Q1: row 2 A - 1 = 2, row 3 B - 3 = 2; Q2: -4, -2
    np.testing.assert_allclose(t["uRet"], [3.0, -2.0, 1.0, 3.0])
    np.testing.assert_allclose(t["Q1"], [np.nan, np.nan, 2.0, 2.0])
    np.testing.assert_allclose(t["Q2"], [np.nan, np.nan, -4.0, -2.0])
    w = stats.summarize(t, 5, 5, b, 2)
    # uRet over all 4 dates: mean 5/4 x 52 = 65 (the 2 binned dates alone: 2 x 52 = 104)
    assert w.loc["AnnMn", "uRet"] == pytest.approx(65.0)
    # signs + - + + -> 50 x 2/4 = 25 (binned dates alone: 50)
    assert w.loc["HitRate", "uRet"] == pytest.approx(25.0)
    # deviations 1.75 -3.25 -.25 1.75 -> squares 16.75 -> var 16.75 / 3
    assert w.loc["AnnSd", "uRet"] == pytest.approx(math.sqrt(16.75 / 3 * 52))
    # Q columns only have the 2 binned dates
    assert w.loc["AnnMn", "Q1"] == pytest.approx(104.0) and w.loc["HitRate", "Q1"] == 50
    assert w.loc["AnnMn", "Q2"] == pytest.approx(-156.0) and w.loc["HitRate", "Q2"] == -50
    assert w.loc["AnnMn", "TxB"] == pytest.approx(260.0)  # 6 and 4
    # Beta over the common dates 2 and 3: (u, Q1) = (1, 2), (3, 2) -> beta 0, alpha 2 x 52
    assert w.loc["Beta", "Q1"] == pytest.approx(0.0, abs=1e-12)
    assert w.loc["Alpha", "Q1"] == pytest.approx(104.0)
    # h = 10: sub-series rows 0,2 (uRet 3, 1: mean 2) and 1,3 (-2, 3: mean 0.5) -> 1.25 x 26
    w = stats.summarize(t, 10, 5, b, 2)
    assert w.loc["AnnMn", "uRet"] == pytest.approx(32.5)
    assert w.loc["HitRate", "uRet"] == pytest.approx((50.0 + 0.0) / 2)
    assert w.loc["AnnMn", "Q1"] == pytest.approx(2.0 * 26)  # row 2 alone, row 3 alone


def test_overlapping_horizon_averages_interleaved_subseries():
    r = [1.0, 2.0, 3.0, 4.0, 5.0, 7.0]
    w = stats.summarize(_table({"TxB": r, "uRet": [1.0, 0.5] * 3}), horizon=10, step=5)
    A = 26.0  # 260 / 10
    # h = 10 with weekly rows -> 2 sub-series: rows 0,2,4 = 1,3,5 and rows 1,3,5 = 2,4,7
    m0, s0 = 3.0, 2.0
    m1 = 13 / 3
    s1 = math.sqrt(((2 - m1) ** 2 + (4 - m1) ** 2 + (7 - m1) ** 2) / 2)  # sqrt(19/3)
    assert w.loc["AnnMn", "TxB"] == pytest.approx((m0 + m1) / 2 * A)
    assert w.loc["AnnSd", "TxB"] == pytest.approx((s0 + s1) / 2 * math.sqrt(A))
    # the Sharpe ratio is averaged too (not the ratio of the averages)
    assert w.loc["Sharpe", "TxB"] == pytest.approx(
        (100 * m0 * A / (s0 * math.sqrt(A)) + 100 * m1 * A / (s1 * math.sqrt(A))) / 2
    )
    assert w.loc["TStat", "TxB"] == pytest.approx(
        (m0 / s0 * math.sqrt(3) + m1 / s1 * math.sqrt(3)) / 2
    )
    assert w.loc["DrawDn", "TxB"] == 0 and w.loc["DDnN", "TxB"] == 0
    assert stats.n_subseries(20, 5) == 4 and stats.n_subseries(130, 5) == 26
    assert stats.n_subseries(5, 5) == 1 and stats.n_subseries(20, 1) == 20


def test_overlapping_drawdown_start_is_the_average_date():
    # sub-series 0 (rows 0,2) falls at row 2 = 2021-01-22; sub-series 1 (rows 1,3) at row 1 =
    # 2021-01-15 -> average date 2021-01-18 (rounded), lengths 1 and 1
    w = stats.summarize(_table({"TxB": [1.0, -1.0, -1.0, 1.0], "uRet": [1.0] * 4}), 10, 5)
    assert w.loc["DDnBeg", "TxB"] == 20210118 and w.loc["DDnN", "TxB"] == 1


def test_calendar_years_use_the_year_of_the_window_end():
    idx = pd.DatetimeIndex(["2021-12-17", "2021-12-24", "2021-12-31", "2022-01-07"], name="date")
    t = pd.DataFrame({"TxB": [1.0, 2.0, 3.0, 5.0], "uRet": [0.0, 1.0, 1.0, np.nan]}, index=idx)
    cal = stats.calendar_years(t, 5).set_index("year")
    # windows end 5 weekdays later: 12-24, 12-31 (2021); 2022-01-07, 01-14 (2022)
    assert cal.loc[2021, "TxB"] == pytest.approx(52 * 1.5)
    assert cal.loc[2022, "TxB"] == pytest.approx(52 * 4.0)
    assert cal.loc[2021, "N"] == 2 and cal.loc[2022, "N"] == 1  # N counts uRet periods
    # with bin columns N counts the Q1 periods: a leading date with uRet only (2021-12-10,
    # window end 12-17) adds to uRet's AnnMn for 2021 but not to N
    t2 = pd.DataFrame(
        {"Q1": [np.nan, 1.0, 2.0, 3.0, np.nan], "uRet": [4.0, 0.0, 1.0, 1.0, np.nan]},
        index=idx.insert(0, pd.Timestamp("2021-12-10")),
    )
    cal = stats.calendar_years(t2, 5).set_index("year")
    assert cal.loc[2021, "N"] == 2 and cal.loc[2022, "N"] == 1
    assert cal.loc[2021, "uRet"] == pytest.approx(52 * (4.0 + 0.0 + 1.0) / 3)
    assert cal.loc[2021, "Q1"] == pytest.approx(52 * 1.5)


def test_long_summary_layout():
    w = stats.summarize(
        _table({"Q1": [1.0, 2.0, -1.0], "TxB": [1.0, 0.0, 2.0], "uRet": [0.1, 0.2, 0.3]}, 3), 5
    )
    long = stats.to_long(w, 5)
    assert list(long.columns) == ["horizon", "statistic", "column", "value"]
    assert len(long) == len(stats.STATISTICS) * 3
    assert set(long["statistic"]) == set(stats.STATISTICS) and "TStat" in set(long["statistic"])


@pytest.mark.parametrize(
    "horizon, step, rows",
    [(5, 5, 60), (20, 5, 61), (130, 5, 40), (10, 1, 37), (45, 5, 7), (65, 5, 3)],
)
def test_vectorised_summary_equals_the_loop_over_subseries(horizon, step, rows):
    rng = np.random.default_rng(horizon + rows)
    idx = pd.bdate_range("2015-01-02", periods=rows, freq="W-FRI" if step == 5 else "B")
    t = pd.DataFrame(
        rng.normal(0, 1, (rows, 5)), index=idx, columns=["Q1", "Q2", "Q3", "TxB", "uRet"]
    )
    t.iloc[rng.random((rows, 5)) < 0.08] = np.nan  # gaps, some where uRet exists
    t.iloc[::7, 1] = np.nan
    b = pd.DataFrame(rng.integers(1, 4, (rows, 9)).astype(float), index=idx)
    b.iloc[rng.random((rows, 9)) < 0.2] = np.nan
    fast = stats.summarize(t, horizon, step, b, 3)
    slow = stats.summarize_reference(t, horizon, step, b, 3)
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-10, atol=1e-12)
