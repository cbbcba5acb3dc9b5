"""A country signal as the backtest's input (flowmosaic.backtest.signal.SignalFrames): the
pooled look-back on hand-computed numbers, the flow calendar a signal's rows are put on (days
without a value kept as empty rows, a monthly value held from the day it is known), the rules
a signal's look-back must follow, and the backtest of a pooled signal against the one of the
same numbers given as flow %."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest.engine import BacktestParams, run_backtest
from flowmosaic.backtest.signal import SignalFrames, pooled_window, signal_frames
from flowmosaic.backtest.synthetic import make_planted
from flowmosaic.errors import InputError

NAN = np.nan


def _frame(days: list[str], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"US": values}, index=pd.DatetimeIndex(pd.to_datetime(days), name="date"))


def test_pooled_window_by_hand():
    """Lookback 2: P(t) = (num(t-1) + num(t)) / (den(t-1) + den(t)); a missing value counts
    as 0; no value before two rows or where the denominators sum to 0."""
    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    num = _frame(days, [1.0, 2.0, NAN, 4.0, 0.0])
    den = _frame(days, [1.0, 1.0, 2.0, NAN, 0.0])
    got = pooled_window(num, den, 2)["US"].to_numpy()
    want = [NAN, (1 + 2) / (1 + 1), (2 + 0) / (1 + 2), (0 + 4) / (2 + 0), NAN]
    np.testing.assert_allclose(got, want, equal_nan=True)
    # 2024-03-08: numerators 4 + 0 over denominators 0 + 0: guarded, not 4 / 0


def _rows(name: str, dated: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"date": dt.date.fromisoformat(d), "country": c, "signal": name, "value": v}
            | {"numerator": n, "denominator": q}
            for d, c, v, n, q in [(d, c, v, v, 1.0) for d, c, v in dated]
        ]
    )


def test_a_daily_signal_keeps_its_days_without_a_value_as_empty_rows():
    rows = _rows("FloTrend", [("2024-03-04", "US", 0.5), ("2024-03-07", "JP", -0.25)])
    f = SignalFrames.from_rows(rows, "FloTrend")
    assert f.daily and list(f.values.columns) == ["JP", "US"]
    assert [d.date().isoformat() for d in f.values.index] == [
        "2024-03-04",
        "2024-03-05",
        "2024-03-06",
        "2024-03-07",
    ]
    assert f.values["US"].tolist()[0] == 0.5 and f.values.iloc[1:3].isna().all().all()
    assert f.values.loc["2024-03-07", "JP"] == -0.25


def test_a_monthly_value_holds_from_the_day_it_is_known_until_the_next():
    """February 2020's snapshot is public on Sunday 23 February: its value is known from
    Monday the 24th; March's from Monday 23 March, and it holds until 22 April (the day
    before April's would be known)."""
    rows = _rows("AllocMo", [("2020-02-23", "US", 1.0), ("2020-03-23", "US", 2.0)])
    f = SignalFrames.from_rows(rows, "AllocMo")
    v = f.values["US"]
    assert not f.daily
    assert v.index[0] == pd.Timestamp("2020-02-24") and v.index[-1] == pd.Timestamp("2020-04-22")
    assert (v[:"2020-03-20"] == 1.0).all() and (v["2020-03-23":] == 2.0).all()
    assert v.notna().all()


def test_the_look_back_rules_of_a_signal():
    daily = SignalFrames.from_rows(_rows("FloDiff", [("2024-03-04", "US", 1.0)]), "FloDiff")
    monthly = SignalFrames.from_rows(_rows("FundCt", [("2024-03-25", "US", 3.0)]), "FundCt")
    with pytest.raises(InputError, match="pooled or summed"):
        daily.backtest_frames(BacktestParams())  # compounding a signal's values
    assert daily.backtest_frames(BacktestParams(compound=False, pooled=True))[1] is not None
    assert daily.backtest_frames(BacktestParams(compound=False))[1] is None
    with pytest.raises(InputError, match="monthly"):
        monthly.backtest_frames(BacktestParams(compound=False))  # lookback 20
    values, den = monthly.backtest_frames(BacktestParams(lookback=1, compound=False))
    assert den is None and values["US"].iloc[0] == 3.0
    with pytest.raises(InputError, match="unknown signal 'FloWhat'"):
        SignalFrames.from_rows(_rows("FloDiff", [("2024-03-04", "US", 1.0)]), "FloWhat")
    with pytest.raises(InputError, match="only a signal"):
        run_backtest(daily.values, daily.values, BacktestParams(compound=False, pooled=True))


def test_a_pooled_signal_ranks_as_the_same_numbers_summed_as_flow_percent():
    """Numerators x with every denominator 2: the pooled signal is sum(x) / (2 x lookback), a
    positive multiple of the summed flow %, so every bin, every return and the summary are
    those of the flow-% backtest with a summed window."""
    flows, levels = make_planted(12, 2, strength=0.05, seed=4)
    long = flows.stack(future_stack=True).rename("numerator").reset_index()
    long.columns = ["date", "country", "numerator"]
    long = long.assign(signal="FloTrend", denominator=2.0, value=long["numerator"] / 2.0)
    frames = SignalFrames.from_rows(long, "FloTrend", list(flows.columns))
    params = {"horizons": (5, 20), "lookback": 10, "compound": False}
    as_flows = run_backtest(flows, levels, BacktestParams(**params))
    pooled = run_backtest(None, levels, BacktestParams(**params, pooled=True), signal_input=frames)
    np.testing.assert_allclose(
        pooled.compounded.to_numpy(), as_flows.compounded.to_numpy() / 20.0, equal_nan=True
    )
    for h in (5, 20):
        assert pooled.bins[h].equals(as_flows.bins[h])
    pd.testing.assert_frame_equal(pooled.summary, as_flows.summary)
    assert pooled.extras["signal"] == "FloTrend"


def test_signal_frames_in_the_documented_order_and_missing_ones_named():
    rows = pd.concat(
        [
            _rows("AllocMo", [("2024-03-25", "US", 1.0)]),
            _rows("FloTrend", [("2024-03-04", "US", 0.5)]),
        ]
    )
    assert list(signal_frames(rows, None)) == ["FloTrend", "AllocMo"]  # docs/signals.md order
    assert list(signal_frames(rows, ["AllocMo"])) == ["AllocMo"]
    with pytest.raises(InputError, match=r"has no rows of \['FloDiff'\].*--signal FloDiff"):
        signal_frames(rows, ["FloTrend", "FloDiff"])
    with pytest.raises(InputError, match="no rows of any signal"):
        signal_frames(rows.iloc[:0], None)
