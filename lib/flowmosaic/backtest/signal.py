"""From daily country flow % to the trade-date signal (docs/methodology.md,
"8. The backtest", steps 1-4), and from a country signal of docs/signals.md (SignalFrames).

All functions take and return pandas frames indexed by a DatetimeIndex (named ``date``) with one
column per ISO2 country; values are percent. Nothing here touches returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowmosaic.calendar import (
    add_months,
    flow_dates,
    is_flow_date,
    period_ends,
    shift_flow_dates,
)
from flowmosaic.errors import InputError
from flowmosaic.signals.names import DAILY, RELEASE_DAY, SIGNALS


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
            out[lookback - 1 :] = window_sums(filled, lookback)
        out[np.isnan(a)] = np.nan
    return pd.DataFrame(out, index=x.index, columns=x.columns)


def window_sums(a: np.ndarray, lookback: int) -> np.ndarray:
    """Sums of every `lookback` consecutive rows of `a` (no missing values), one row per
    window end from row lookback-1 on."""
    cs = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])
    return cs[lookback:] - cs[:-lookback]


def pooled_window(num: pd.DataFrame, den: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """Step 1 for a signal with a numerator and a denominator (docs/signals.md):
    P(t) = (sum of the numerators of the last `lookback` rows) / (sum of their denominators).

    Missing values inside the window count as 0; P(t) is missing before `lookback` rows exist
    and where the denominators' sum is not positive (the guarded denominator)."""
    if lookback < 1:
        raise InputError(f"lookback must be >= 1, got {lookback}")
    den = den.reindex(index=num.index, columns=num.columns)
    out = np.full(num.shape, np.nan)
    if num.shape[0] >= lookback:
        top, bottom = (
            window_sums(np.nan_to_num(f.to_numpy(dtype=float), nan=0.0), lookback)
            for f in (num, den)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lookback - 1 :] = np.where(bottom > 0, top / bottom, np.nan)
    return pd.DataFrame(out, index=num.index, columns=num.columns)


def on_flow_calendar(x: pd.DataFrame, forward_fill_until: dt.date | None = None) -> pd.DataFrame:
    """A signal's rows on the consecutive flow calendar from its first date: a flow date
    without a row is a row of missing values (no fund gave the signal a value that day).

    forward_fill_until: for a monthly signal, each value holds from its date (the first flow
    date on or after it) until the next value, and the last one until that date."""
    if x.empty:
        return x.copy()
    first = x.index[0].date()
    last = max(x.index[-1].date(), forward_fill_until or first)
    days = pd.DatetimeIndex(pd.to_datetime(flow_dates(first, last)), name="date")
    if forward_fill_until is None:
        return x.reindex(days)
    # a date that is not a flow date (a 23rd on a weekend) is known from the next flow date
    return x.reindex(days.union(x.index)).ffill().reindex(days)


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
    denominator: pd.DataFrame | None = None,
    calendar_rows: bool = False,
    frequency: str = "daily",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Steps 1-4: (compounded daily matrix after dropping empty rows, trade-date signal).

    trade_day 'fri' samples weekly (Friday labels); 'none' keeps every (lagged) flow date.
    calendar_rows: the rows are a signal's, already on the consecutive flow calendar
    (on_flow_calendar), where an empty row is a day without a value, not a gap.
    denominator: `flows` are a signal's numerators (calendar_rows) and step 1 pools them over
    this frame (pooled_window) instead of compounding or summing.
    frequency 'weekly': the rows are week ends (weekly_signal).
    """
    if frequency == "weekly":
        if calendar_rows or denominator is not None:
            raise InputError("a weekly series backtests flow %, not a daily signal")
        return weekly_signal(flows, lookback, compound, lag, delay)
    if calendar_rows or denominator is not None:
        raw = flows.sort_index(kind="stable")
        check_flow_calendar(raw.index, what="daily signal rows")
    else:
        # Empty rows are dropped before compounding too, so a window never counts rows that
        # hold no data at all (e.g. a file's leading blank rows); a blank row inside the data
        # is a gap.
        raw = drop_empty_rows(flows.sort_index(kind="stable"))
        check_flow_calendar(raw.index, what="daily flow rows")
    if denominator is None:
        comp = drop_empty_rows(compound_flows(raw, lookback, compound))
    else:
        comp = drop_empty_rows(pooled_window(raw, denominator, lookback))
    lagged = lag_rows(comp, lag + delay)
    if trade_day == "fri":
        sig = sample_weekly(lagged)
    elif trade_day == "none":
        sig = lagged
    else:
        raise InputError(f"trade_day must be 'fri' or 'none', got {trade_day!r}")
    return comp, sig


def check_week_calendar(index: pd.DatetimeIndex) -> None:
    """Weekly rows must be every week's end (a Wednesday; a Friday before 2001-09-19) from
    the first row to the last, once each."""
    if len(index) == 0:
        return
    want = pd.DatetimeIndex(
        pd.to_datetime(period_ends(index[0].date(), index[-1].date(), "weekly"))
    )
    if len(index) != len(want) or not (index == want).all():
        extra = sorted(set(index) - set(want))
        missing = sorted(set(want) - set(index))
        what = (
            f"{extra[0].date()} is not a week's end"
            if extra
            else f"week ending {missing[0].date()} is missing"
            if missing
            else "a week end repeats"
        )
        raise CalendarGapError(f"weekly flow rows are not consecutive week ends: {what}")


def weekly_signal(
    flows: pd.DataFrame, lookback: int, compound: bool, lag: int, delay: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Steps 1-4 on weekly rows: compounded over `lookback` weeks; each row moved `lag` weeks
    later, then `delay` flow dates after its week's end (the day its figures are known); the
    trade date is the Friday of the Saturday-to-Friday week that day falls in."""
    raw = drop_empty_rows(flows.sort_index(kind="stable"))
    check_week_calendar(raw.index)
    comp = drop_empty_rows(compound_flows(raw, lookback, compound))
    if lag < 0 or delay < 0:
        raise InputError(f"lag and delay must be >= 0, got {lag}, {delay}")
    if len(comp) == 0:
        return comp, comp.copy()
    first = comp.index[0].date()
    horizon = first + dt.timedelta(weeks=len(comp) + lag + 1)
    ends = period_ends(first, horizon, "weekly")[: len(comp) + lag]
    known = [shift_flow_dates(_flow_date_on_or_after(e), delay) for e in ends[lag:]]
    sig = comp.copy()
    sig.index = week_friday(pd.DatetimeIndex(pd.to_datetime(known), name="date"))
    return comp, sig


def _flow_date_on_or_after(d: dt.date) -> dt.date:
    while not is_flow_date(d):
        d += dt.timedelta(days=1)
    return d


# --- a country signal (docs/signals.md) as the backtest's input --------------------------------


@dataclass(frozen=True)
class SignalFrames:
    """One signal of one universe, wide (dates x countries) on the consecutive flow calendar:
    its values, numerators and denominators. A daily signal's rows are its flow dates (a flow
    date without a value is an empty row); a monthly one's value holds from the date it is
    known (the 23rd after its month, or the next flow date) until the next one is."""

    name: str
    daily: bool
    values: pd.DataFrame
    numerator: pd.DataFrame
    denominator: pd.DataFrame

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, name: str, countries=None) -> SignalFrames:
        """rows: long country_signals rows (date, country, signal, value, numerator,
        denominator); those of `name` are used. countries: the columns, in that order
        (default: every country with a row, sorted)."""
        if name not in SIGNALS:
            raise InputError(f"unknown signal {name!r}: choose from {', '.join(SIGNALS)}")
        mine = rows[rows["signal"] == name]
        if mine.empty:
            raise InputError(f"signal {name}: no rows (run `flowmosaic signals --signal {name}`)")
        dates = sig_dates(mine["date"])
        cols = list(countries) if countries else sorted(mine["country"].unique())
        daily = name in DAILY
        until = None
        if not daily:  # the last value holds until the next month's would be known
            last = dates.max().date()
            until = add_months(last, 1).replace(day=RELEASE_DAY) - dt.timedelta(days=1)

        def wide(column: str) -> pd.DataFrame:
            w = pd.DataFrame({"date": dates, "country": mine["country"].to_numpy()})
            w[column] = mine[column].to_numpy(dtype=float)
            out = w.pivot(index="date", columns="country", values=column).reindex(columns=cols)
            out.columns.name = None
            return on_flow_calendar(out.sort_index().astype(float), until)

        return cls(name, daily, wide("value"), wide("numerator"), wide("denominator"))

    def backtest_frames(self, p) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """(daily input, denominators or None) for BacktestParams p: a daily signal's
        numerators and denominators when p.pooled, else its values (summed over the look-back
        when p.compound is False); a monthly signal's latest values (p must say lookback 1,
        summed: the value is not looked back)."""
        if self.daily:
            if p.pooled:
                return self.numerator, self.denominator
            if p.compound:
                raise InputError(
                    f"signal {self.name}: a signal's values are pooled or summed over the "
                    "look-back, not compounded"
                )
            return self.values, None
        if p.pooled or p.compound or p.lookback != 1:
            raise InputError(
                f"signal {self.name} is monthly: its latest value is used as it is (lookback "
                "1, summed), not pooled or compounded"
            )
        return self.values, None


def signal_frames(
    rows: pd.DataFrame, names: list[str] | None, countries=None, where: str = "country_signals"
) -> dict[str, SignalFrames]:
    """{name: SignalFrames} of long country_signals rows: the signals of `names`, else every
    signal the rows hold, in the order of docs/signals.md. InputError when one asked for, or
    every signal, has no rows (`where` names the rows' source in the message)."""
    present = set(rows["signal"])
    missing = [n for n in (names or []) if n not in present]
    if missing or not present:
        command = "flowmosaic signals" + (f" --signal {','.join(missing)}" if missing else "")
        raise InputError(f"{where} has no rows of {missing or 'any signal'}: run `{command}`")
    order = names or [n for n in SIGNALS if n in present]
    return {n: SignalFrames.from_rows(rows, n, countries) for n in order}


def sig_dates(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values).to_numpy())).normalize()
