"""The backtest on a weekly series (weekly_country_flows): week-end rows compounded over
weeks, moved by lag weeks and delay flow dates, traded on the Friday of the week the figures
are known; gaps in the week ends stop the run; a planted weekly effect is found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest.engine import BacktestParams, run_backtest
from flowmosaic.backtest.signal import CalendarGapError, weekly_signal
from flowmosaic.errors import InputError


def _weeks(first: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(first, periods=n, freq="W-WED", name="date")


def test_weekly_signal_by_hand():
    # two weeks of flow % 1 and 2 compounded over 2 weeks: 100 x (1.01 x 1.02 - 1) = 3.02;
    # the week ending Wed 2024-01-10 is known 2 flow dates later, Fri 12 Jan (delay 2)
    x = pd.DataFrame({"AU": [1.0, 2.0, -1.0]}, index=_weeks("2024-01-03", 3))
    comp, sig = weekly_signal(x, lookback=2, compound=True, lag=0, delay=2)
    assert comp.index.tolist() == list(pd.to_datetime(["2024-01-10", "2024-01-17"]))
    assert comp["AU"].tolist() == pytest.approx([3.02, 100 * (1.02 * 0.99 - 1)])
    assert sig.index.tolist() == list(pd.to_datetime(["2024-01-12", "2024-01-19"]))
    # lag 1 week: the first value is traded a week later; delay 3 (Monday) rolls into the
    # next Saturday-to-Friday week, so its Friday label
    _, lagged = weekly_signal(x, 2, True, lag=1, delay=3)
    assert lagged.index.tolist() == list(pd.to_datetime(["2024-01-26", "2024-02-02"]))
    # Christmas: the week ending Wed 2024-12-25 is not a flow date; delay counts from the
    # first flow date on or after it (Thu 26): one flow date later is Fri 27
    y = pd.DataFrame({"AU": [1.0, 1.0]}, index=_weeks("2024-12-18", 2))
    _, xmas = weekly_signal(y, 1, True, 0, 1)
    assert xmas.index.tolist() == list(pd.to_datetime(["2024-12-20", "2024-12-27"]))


def test_a_missing_week_or_a_non_week_end_stops_the_run():
    idx = _weeks("2024-01-03", 4).delete(2)
    x = pd.DataFrame({"AU": [1.0, 2.0, 3.0]}, index=idx)
    with pytest.raises(CalendarGapError, match="week ending 2024-01-17 is missing"):
        weekly_signal(x, 1, True, 0, 2)
    x.index = pd.DatetimeIndex(["2024-01-03", "2024-01-10", "2024-01-18"], name="date")
    with pytest.raises(CalendarGapError, match="2024-01-18 is not a week's end"):
        weekly_signal(x, 1, True, 0, 2)
    with pytest.raises(InputError, match="trade_day must be 'fri'"):
        BacktestParams(frequency="weekly", trade_day="none")


def _planted(strength: float, seed: int, n_weeks: int = 260, n: int = 12):
    """Weekly flow % per country; daily index levels whose next 5 weekdays after each
    week's Friday move with the flow of the week just known (strength x flow %)."""
    rng = np.random.default_rng(seed)
    weeks = _weeks("2015-01-07", n_weeks)
    cols = [f"C{i}" for i in range(n)]
    flows = pd.DataFrame(rng.normal(0, 1, (n_weeks, n)), index=weeks, columns=cols)
    days = pd.bdate_range(weeks[0], weeks[-1] + pd.Timedelta(days=30), name="date")
    ret = pd.DataFrame(rng.normal(0, 1.0, (len(days), n)), index=days, columns=cols)
    for w in weeks:
        fri = w + pd.Timedelta(days=2)
        window = (days > fri) & (days <= fri + pd.Timedelta(days=7))
        ret.loc[window] += strength * flows.loc[w].to_numpy() / 5
    levels = 100 * (1 + ret / 100).cumprod()
    return flows, levels


def test_a_planted_weekly_effect_is_found_and_absent_effect_is_not():
    params = BacktestParams(frequency="weekly", lookback=1, horizons=(5, 20))
    flows, levels = _planted(0.8, seed=3)
    res = run_backtest(flows, levels, params)
    assert res.value(5, "TStat", "TxB") > 3
    assert res.value(5, "AnnMn", "Q1") > res.value(5, "AnnMn", "Q5")
    assert len(res.signal) == len(flows)  # one trade date per week
    flows0, levels0 = _planted(0.0, seed=3)
    assert abs(run_backtest(flows0, levels0, params).value(5, "TStat", "TxB")) < 3
