"""From daily country flow % to the trade-date signal (docs/methodology.md,
"8. The backtest", steps 1-4).

All functions take and return pandas frames indexed by a DatetimeIndex (named ``date``) with one
column per ISO2 country; values are percent. Nothing here touches returns.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from flowmosaic.calendar import flow_dates, is_flow_date, shift_flow_dates
from flowmosaic.errors import InputError


class CalendarGapError(InputError):
    """The flow rows are not the consecutive flow calendar."""


def as_date_index(index) -> pd.DatetimeIndex:
    """Dates (date objects, Timestamps, 'yyyymmdd' strings or ints) -> DatetimeIndex."""
    if isinstance(index, pd.DatetimeIndex):
        out = index
    else:
        values = [str(v) if isinstance(v, (int, np.integer)) else v for v in index]
        try:
            if values and isinstance(values[0], str) and len(values[0].strip()) == 8:
                out = pd.to_datetime(values, format="%Y%m%d")
            else:
                out = pd.DatetimeIndex(pd.to_datetime(values))
        except (ValueError, TypeError) as exc:
            raise InputError(f"cannot read the date index: {exc}") from exc
    if out.tz is not None:
        out = out.tz_localize(None)
    return out.normalize().rename("date")


def compound_flows(x: pd.DataFrame, lookback: int = 20, compound: bool = True) -> pd.DataFrame:
    """Step 1. C(t) = 100 x (prod over the last `lookback` rows of (1 + x/100) - 1).

    Missing values inside the window count as 0%; C(t) is missing when x(t) is missing or fewer
    than `lookback` rows exist. With compound=False the window is summed instead.
    """
    if lookback < 1:
        raise InputError(f"lookback must be >= 1, got {lookback}")
    a = x.to_numpy(dtype=float)
    out = np.full(a.shape, np.nan)
    if a.shape[0] >= lookback:
        filled = np.nan_to_num(a, nan=0.0)
        if compound:
            win = np.lib.stride_tricks.sliding_window_view(1.0 + filled / 100.0, lookback, axis=0)
            out[lookback - 1 :] = 100.0 * (win.prod(axis=-1) - 1.0)
        else:
            cs = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(filled, axis=0)])
            out[lookback - 1 :] = cs[lookback:] - cs[:-lookback]
        out[np.isnan(a)] = np.nan
    return pd.DataFrame(out, index=x.index, columns=x.columns)


def drop_empty_rows(x: pd.DataFrame) -> pd.DataFrame:
    """Step 2, first half: rows where every country is missing are dropped."""
    return x.loc[x.notna().any(axis=1)]


def check_flow_calendar(index: pd.DatetimeIndex, what: str = "flow rows") -> None:
    """Step 2, second half: the rows must be the consecutive flow calendar.

    Raises CalendarGapError naming the first date that is not a flow date, is repeated, is out
    of order, or is missing between the first and last row.
    """
    if len(index) == 0:
        raise CalendarGapError(f"{what}: no rows with any value")
    days = [ts.date() for ts in index]
    for i, d in enumerate(days):
        if not is_flow_date(d):
            raise CalendarGapError(
                f"{what}: {d:%Y-%m-%d} ({d:%A}) is not a flow date "
                "(flow dates are weekdays except 1 January and 25 December)"
            )
        if i and d <= days[i - 1]:
            kind = "repeated" if d == days[i - 1] else "out of order"
            raise CalendarGapError(f"{what}: date {d:%Y-%m-%d} is {kind} (row {i + 1})")
    expected = flow_dates(days[0], days[-1])
    if len(expected) != len(days):
        for i, (want, got) in enumerate(zip(expected, days)):
            if want != got:
                raise CalendarGapError(
                    f"{what}: flow date {want:%Y-%m-%d} is missing or empty "
                    f"(rows jump from {days[i - 1]:%Y-%m-%d} to {got:%Y-%m-%d}); "
                    f"{len(expected) - len(days)} flow date(s) missing in all between "
                    f"{days[0]:%Y-%m-%d} and {days[-1]:%Y-%m-%d}"
                )


def lag_rows(x: pd.DataFrame, n: int) -> pd.DataFrame:
    """Step 3. Move every row n flow-calendar rows later: the value used at row t is row t-n's.

    The rows must be the consecutive flow calendar. Rather than dropping the last n rows'
    values, the index is relabelled, so the newest compounded row becomes usable n flow dates
    after its date (which may lie beyond the data).
    """
    if n < 0:
        raise InputError(f"lag + delay must be >= 0, got {n}")
    if n == 0 or len(x) == 0:
        return x.copy()
    first = shift_flow_dates(x.index[0].date(), n)
    last = shift_flow_dates(x.index[-1].date(), n)
    new_index = pd.DatetimeIndex(pd.to_datetime(flow_dates(first, last)), name="date")
    if len(new_index) != len(x):  # cannot happen on a consecutive calendar
        raise CalendarGapError("lag: rows are not the consecutive flow calendar")
    out = x.copy()
    out.index = new_index
    return out


def week_friday(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The Friday of each date's Saturday-to-Friday week."""
    wd = index.weekday.to_numpy()  # Mon=0 .. Sun=6
    ahead = (4 - wd) % 7  # Saturday (5) -> next Friday (+6), Sunday (6) -> +5
    return (index + pd.to_timedelta(ahead, unit="D")).rename("date")


def _last_flow_date_of_week(friday: dt.date) -> dt.date:
    d = friday
    while not is_flow_date(d):
        d -= dt.timedelta(days=1)
    return d


def sample_weekly(x: pd.DataFrame) -> pd.DataFrame:
    """Step 4. The last available row of each Saturday-to-Friday week, labelled with its Friday.

    When Friday is not a flow date (25 December, 1 January) Thursday's row carries the Friday
    label. A trailing week whose last flow date is beyond the data is incomplete and is left
    out (its Friday row is not known yet).
    """
    if len(x) == 0:
        return x.copy()
    labels = week_friday(x.index)
    last_pos = np.flatnonzero(np.r_[labels[1:] != labels[:-1], True])
    out = x.iloc[last_pos].copy()
    out.index = labels[last_pos]
    last_label = out.index[-1].date()
    if x.index[-1].date() < _last_flow_date_of_week(last_label):
        out = out.iloc[:-1]
    return out


def trade_dates(
    flows: pd.DataFrame, signal: pd.DataFrame, trade_day: str = "fri"
) -> pd.DatetimeIndex:
    """Every trade date from the first flow row on: the signal's dates preceded by the trade
    dates of the first flow rows, where the compounding window and lag + delay leave no value
    yet (weekly: the Fridays of their weeks). These are the rows of the reference's bins
    matrix; the statistics use them all (uRet has values there when returns do).
    """
    if len(signal) == 0:
        return signal.index
    raw = drop_empty_rows(flows.sort_index(kind="stable")).index
    lead = week_friday(raw) if trade_day == "fri" else raw
    lead = lead[lead < signal.index[0]].unique()
    return lead.append(signal.index).rename("date")


def build_signal(
    flows: pd.DataFrame,
    lookback: int = 20,
    compound: bool = True,
    lag: int = 0,
    delay: int = 2,
    trade_day: str = "fri",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Steps 1-4: (compounded daily matrix after dropping empty rows, trade-date signal).

    trade_day 'fri' samples weekly (Friday labels); 'none' keeps every (lagged) flow date.
    """
    # Empty rows are dropped before compounding too, so a window never counts rows that hold
    # no data at all (e.g. a file's leading blank rows); a blank row inside the data is a gap.
    raw = drop_empty_rows(flows.sort_index(kind="stable"))
    check_flow_calendar(raw.index, what="daily flow rows")
    comp = drop_empty_rows(compound_flows(raw, lookback, compound))
    lagged = lag_rows(comp, lag + delay)
    if trade_day == "fri":
        sig = sample_weekly(lagged)
    elif trade_day == "none":
        sig = lagged
    else:
        raise InputError(f"trade_day must be 'fri' or 'none', got {trade_day!r}")
    return comp, sig
