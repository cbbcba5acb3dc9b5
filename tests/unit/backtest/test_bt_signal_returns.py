"""Signal construction (section 5 steps 1-4) and forward returns (steps 5-6)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest import returns as rets
from flowmosaic.backtest import signal as sig
from flowmosaic.backtest.engine import BacktestParams, run_backtest
from flowmosaic.backtest.synthetic import make_planted
from flowmosaic.calendar import flow_dates
from flowmosaic.errors import InputError


def _fd(start: str, end: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.to_datetime(flow_dates(dt.date.fromisoformat(start), dt.date.fromisoformat(end))),
        name="date",
    )


def test_compounding_by_hand():
    idx = _fd("2022-02-01", "2022-02-07")  # 5 flow dates
    x = pd.DataFrame({"AU": [1.0, 2.0, np.nan, 3.0, 1.0]}, index=idx)
    c = sig.compound_flows(x, lookback=3)["AU"].tolist()
    # rows 0-1: fewer than 3 rows; row 2: x missing; row 3: 1.02 x 1 (missing = 0%) x 1.03;
    # row 4: 1 x 1.03 x 1.01
    assert np.isnan(c[0]) and np.isnan(c[1]) and np.isnan(c[2])
    assert c[3] == pytest.approx(100 * (1.02 * 1.03 - 1))  # 5.06
    assert c[4] == pytest.approx(100 * (1.03 * 1.01 - 1))  # 4.03
    s = sig.compound_flows(x, lookback=3, compound=False)["AU"].tolist()
    assert s[3] == pytest.approx(5.0) and s[4] == pytest.approx(4.0)


def test_calendar_gap_names_the_first_missing_flow_date():
    idx = _fd("2022-02-01", "2022-02-18").delete([6, 9])  # drop 2022-02-09 and 2022-02-14
    with pytest.raises(sig.CalendarGapError, match="2022-02-09") as exc:
        sig.check_flow_calendar(idx)
    assert "2022-02-14" not in str(exc.value).split("missing in all")[0]
    assert isinstance(exc.value, InputError)


def test_calendar_error_names_a_date_that_is_not_a_flow_date():
    idx = _fd("2020-12-21", "2020-12-31").append(pd.DatetimeIndex(["2020-12-25"])).sort_values()
    with pytest.raises(sig.CalendarGapError, match=r"2020-12-25 \(Friday\) is not a flow date"):
        sig.check_flow_calendar(idx)
    sat = _fd("2022-02-01", "2022-02-04").append(pd.DatetimeIndex(["2022-02-05"]))
    with pytest.raises(sig.CalendarGapError, match="2022-02-05 .Saturday"):
        sig.check_flow_calendar(sat)


def test_empty_rows_are_dropped_and_an_inner_empty_row_is_a_gap():
    idx = _fd("2022-01-03", "2022-03-04")
    x = pd.DataFrame({"AU": 0.1, "CA": -0.1}, index=idx)
    x.iloc[:3] = np.nan  # leading empty rows: dropped, no error
    comp, s = sig.build_signal(x, lookback=5)
    assert comp.index[0] == idx[3 + 4]  # the 5th row after the empty ones
    x.loc["2022-02-15"] = np.nan
    with pytest.raises(sig.CalendarGapError, match="2022-02-15"):
        sig.build_signal(x, lookback=5)


def test_lag_moves_rows_along_the_flow_calendar():
    idx = pd.DatetimeIndex(["2020-12-22", "2020-12-23", "2020-12-24"], name="date")
    x = pd.DataFrame({"AU": [1.0, 2.0, 3.0]}, index=idx)
    out = sig.lag_rows(x, 2)
    # 22 Dec -> 24 Dec; 23 Dec -> 28 Dec (25 Dec and the weekend are not flow dates)
    assert list(out.index.strftime("%Y-%m-%d")) == ["2020-12-24", "2020-12-28", "2020-12-29"]
    assert out["AU"].tolist() == [1.0, 2.0, 3.0]


def test_weekly_sampling_labels_and_holiday_fridays():
    idx = _fd("2020-12-14", "2021-01-07")
    x = pd.DataFrame({"AU": np.arange(len(idx), dtype=float)}, index=idx)
    w = sig.sample_weekly(x)
    # Fridays 18 Dec, 25 Dec (Thursday 24 Dec's row), 1 Jan (Thursday 31 Dec's row);
    # the week of Friday 8 Jan ends on Thursday 7 Jan in the data: incomplete, left out
    assert list(w.index.strftime("%Y%m%d")) == ["20201218", "20201225", "20210101"]
    assert w.loc["2020-12-25", "AU"] == x.loc["2020-12-24", "AU"]
    assert w.loc["2021-01-01", "AU"] == x.loc["2020-12-31", "AU"]


def test_trade_day_none_keeps_every_lagged_row():
    idx = _fd("2022-01-03", "2022-03-04")
    x = pd.DataFrame({"AU": 0.1, "CA": -0.1}, index=idx)
    comp, s = sig.build_signal(x, lookback=5, delay=2, trade_day="none")
    assert len(s) == len(comp) and s.index[0] == sig.lag_rows(comp, 2).index[0]


def test_spreads_carry_gaps_forward_and_flat_means_missing():
    idx = pd.bdate_range("2022-02-07", periods=5, name="date")  # Mon..Fri
    y = pd.DataFrame({"AU": [2.0, 2.1, np.nan, 2.3, 2.3]}, index=idx)
    level = rets.to_level(y, "level")
    r1 = rets.forward_returns(level, idx, 1, spreads=True)["AU"]
    # Tue->Wed: Wed carried forward from Tue -> 0 -> missing; Wed->Thu: 2.3 - 2.1 = 0.2;
    # Thu->Fri flat -> missing; Fri: beyond the data -> missing
    assert r1.iloc[0] == pytest.approx(0.1)
    assert np.isnan(r1.iloc[1]) and r1.iloc[2] == pytest.approx(0.2)
    assert np.isnan(r1.iloc[3]) and np.isnan(r1.iloc[4])


def test_index_mode_from_levels_and_from_percent_returns():
    idx = pd.bdate_range("2022-02-07", periods=4, name="date")
    lv = pd.DataFrame({"AU": [100.0, 110.0, 99.0, 99.0]}, index=idx)
    r = rets.forward_returns(rets.to_level(lv, "level"), idx[:1], 2)
    assert r.iloc[0, 0] == pytest.approx(-1.0)  # 100 x (99 / 100 - 1)
    pct = pd.DataFrame({"AU": [np.nan, 1.0, np.nan, 2.0]}, index=idx)
    level = rets.to_level(pct, "pct")  # 100, 101, 101 (missing = 0%), 103.02
    assert level["AU"].tolist() == pytest.approx([100.0, 101.0, 101.0, 103.02])
    r = rets.forward_returns(level, idx[:1], 3)
    assert r.iloc[0, 0] == pytest.approx(3.02)


def test_percent_returns_are_compounded_over_every_weekday_holidays_included():
    # Thu 2020-12-24, Fri 12-25 (not a flow date), Mon 12-28, Tue 12-29, Wed 12-30, Thu 12-31,
    # Fri 2021-01-01 (not a flow date), Mon 01-04, Tue 01-05
    idx = pd.DatetimeIndex(
        [
            "2020-12-24",
            "2020-12-25",
            "2020-12-28",
            "2020-12-29",
            "2020-12-30",
            "2020-12-31",
            "2021-01-01",
            "2021-01-04",
            "2021-01-05",
        ],
        name="date",
    )
    pct = pd.DataFrame(
        {
            "AU": [0.5, 1.0, 0.5, 0.5, 0.5, 0.5, 2.0, 0.5, 0.5],
            "CA": [np.nan, np.nan, np.nan, 1.0, np.nan, 2.0, np.nan, 1.0, np.nan],
        },
        index=idx,
    )
    level = rets.to_level(pct, "pct")
    r1 = rets.forward_returns(level, idx, 1)
    r2 = rets.forward_returns(level, idx, 2)
    # the holiday returns count: Thu 12-24 -> Fri 12-25 is 25 December's 1%, Thu 12-31 ->
    # Fri 01-01 is 1 January's 2%; 12-24 over 2 weekdays: 1.01 x 1.005 - 1
    assert r1.loc["2020-12-24", "AU"] == pytest.approx(1.0)
    assert r1.loc["2020-12-31", "AU"] == pytest.approx(2.0)
    assert r2.loc["2020-12-24", "AU"] == pytest.approx(100 * (1.01 * 1.005 - 1))
    # a file without the holiday rows: those weekdays count 0%, so 12-31 -> 01-01 is flat
    # (missing) and 12-31 -> 01-04 is the 4th's 0.5% alone
    level = rets.to_level(pct.drop(index=pd.DatetimeIndex(["2020-12-25", "2021-01-01"])), "pct")
    assert np.isnan(rets.forward_returns(level, idx[5:6], 1).iloc[0, 0])
    assert rets.forward_returns(level, idx[5:6], 2).iloc[0, 0] == pytest.approx(0.5)
    # CA's first return is on Tue 12-29: its index is 100 on Mon 12-28 and missing before,
    # so a window from Fri 12-25 is missing rather than a partial return; Wed 12-30 counts
    # 0% (missing inside the series); after its last return (01-04) the index stays flat
    level = rets.to_level(pct, "pct")["CA"]
    assert level.loc[:"2020-12-25"].isna().all() and level.loc["2020-12-28"] == 100.0
    assert level.loc["2020-12-30"] == pytest.approx(101.0)
    assert level.loc["2021-01-05"] == pytest.approx(101.0 * 1.02 * 1.01)
    assert np.isnan(r2.loc["2020-12-25", "CA"])
    assert r2.loc["2020-12-28", "CA"] == pytest.approx(1.0)  # 12-29's 1%, 12-30's 0%
    assert np.isnan(r1.loc["2020-12-24", "CA"])  # before its index: missing


def test_zero_return_rule_in_the_engine_masks_the_signal():
    flows, levels = make_planted(6, 1, strength=0.0, seed=2)
    # freeze CA's level for a month: 5-weekday returns starting inside are exactly 0
    frozen = (levels.index >= "2010-06-01") & (levels.index <= "2010-07-01")
    levels.loc[frozen, "CA"] = levels.loc["2010-05-31", "CA"]
    res = run_backtest(flows, levels, BacktestParams(horizons=(5,), bins=3))
    b = res.bins[5]
    inside = (b.index >= "2010-06-01") & (b.index <= "2010-06-24")
    assert b.loc[inside, "CA"].isna().all()  # signal set missing where the return is missing
    assert b.loc[inside].drop(columns="CA").notna().all(axis=None)
    assert b.loc[~inside, "CA"].notna().sum() > 20
    fr = res.forward_returns[5]
    assert fr.loc[inside, "CA"].isna().all()


def test_membership_makes_returns_missing_outside():
    flows, levels = make_planted(6, 1, strength=0.0, seed=2)
    member = pd.DataFrame(
        {
            "country": ["AU", "AU", "BR", "CA", "CN", "ID", "IN"],
            "from": pd.to_datetime(["2010-01-01", "2010-09-01", None, None, None, None, None]),
            "to": pd.to_datetime(["2010-05-31", None, None, None, None, None, None]),
        }
    )
    res = run_backtest(flows, levels, BacktestParams(horizons=(5,), bins=3), membership=member)
    b = res.bins[5]
    gap = (b.index > "2010-05-31") & (b.index < "2010-09-01")
    # the first trade dates (the compounding window's) have no signal, so no bin for anyone
    signal = res.signal.reindex(b.index).notna().any(axis=1).to_numpy()
    assert b.loc[gap, "AU"].isna().all() and b.loc[~gap & signal, "AU"].notna().all()


def test_engine_errors_are_clear():
    flows, levels = make_planted(4, 1, seed=1)
    with pytest.raises(InputError, match="no country is in both"):
        run_backtest(flows, levels.rename(columns=lambda c: "X" + c[1]))
    with pytest.raises(InputError, match="give no signal"):
        run_backtest(flows.iloc[:15], levels)
    with pytest.raises(InputError, match="bins must be >= 2"):
        BacktestParams(bins=1)
    with pytest.raises(InputError, match="unknown backtest parameter"):
        BacktestParams.coerce({"lookbak": 3})
