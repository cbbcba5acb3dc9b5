"""The flow calendar and the point-in-time allocation rule (docs/methodology.md,
"2. The flow calendar" and "3. Point-in-time allocations (the 23rd rule)").

Pure Python: no Spark. spark/calendar.py expresses the same rules as Spark Columns, and
tests/spark/test_calendar_columns.py checks the two agree on every day of several years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

# Allocations for month M are released on this day of month M+1.
RELEASE_DAY = 23


def is_flow_date(d: dt.date) -> bool:
    """Weekdays except 1 January and 25 December."""
    if d.weekday() >= 5:
        return False
    return not ((d.month == 1 and d.day == 1) or (d.month == 12 and d.day == 25))


def flow_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """All flow dates from start to end inclusive, ascending."""
    return list(iter_flow_dates(start, end))


def iter_flow_dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    d = start
    one = dt.timedelta(days=1)
    while d <= end:
        if is_flow_date(d):
            yield d
        d += one


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    """First day of the month n months after (n<0: before) the month of `month`."""
    idx = month.year * 12 + (month.month - 1) + n
    return dt.date(idx // 12, idx % 12 + 1, 1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


def alloc_month(d: dt.date) -> dt.date:
    """The allocation month (first day of month) public on flow date d: the 23rd rule.

    Day of month 23 or later -> the previous month's snapshot; 22 or earlier -> two months back.
    """
    return add_months(month_start(d), -1 if d.day >= RELEASE_DAY else -2)


def applicable_window(month: dt.date) -> tuple[dt.date, dt.date]:
    """Calendar days on which month's snapshot applies: the 23rd of M+1 to the 22nd of M+2."""
    m = month_start(month)
    return add_months(m, 1).replace(day=RELEASE_DAY), add_months(m, 2).replace(day=RELEASE_DAY - 1)


def shift_flow_dates(d: dt.date, n: int) -> dt.date:
    """The flow date n rows after (n<0: before) d on the flow calendar; d must be a flow date."""
    if not is_flow_date(d):
        raise ValueError(f"{d} is not a flow date")
    step = dt.timedelta(days=1 if n >= 0 else -1)
    left = abs(n)
    while left:
        d += step
        if is_flow_date(d):
            left -= 1
    return d


# --- reporting periods of weekly and monthly reporters (docs/methodology.md, "12. Weekly and
# monthly reporters"). A weekly row is dated at its week's end: a Wednesday, the week running
# Thursday to Wednesday; before WEDNESDAY_WEEKS_FROM the vendor's weeks ended on a Friday
# (Saturday to Friday). The change-over week runs Saturday 2001-09-15 to Wednesday 2001-09-19.
# A monthly row is dated at the last calendar day of its month.
WEDNESDAY_WEEKS_FROM = dt.date(2001, 9, 19)
FREQUENCIES = ("weekly", "monthly")


def is_period_end(d: dt.date, frequency: str) -> bool:
    if frequency == "weekly":
        return d.weekday() == (2 if d >= WEDNESDAY_WEEKS_FROM else 4)
    if frequency == "monthly":
        return d == month_end(d)
    raise ValueError(f"frequency must be weekly or monthly, not {frequency!r}")


def period_end(d: dt.date, frequency: str) -> dt.date:
    """The end of the week or month that calendar day d belongs to."""
    if frequency == "monthly":
        return month_end(d)
    if frequency != "weekly":
        raise ValueError(f"frequency must be weekly or monthly, not {frequency!r}")
    # Wednesday weeks from the change-over week's first day (the Saturday after the last
    # Friday week), Friday weeks before it
    weekday = 2 if d > WEDNESDAY_WEEKS_FROM - dt.timedelta(days=5) else 4
    return d + dt.timedelta(days=(weekday - d.weekday()) % 7)


def period_start(end: dt.date, frequency: str) -> dt.date:
    """The first day of the period ending on `end` (a period end): the day after the
    previous period's end."""
    d = end - dt.timedelta(days=1)
    while not is_period_end(d, frequency):
        d -= dt.timedelta(days=1)
    return d + dt.timedelta(days=1)


def period_ends(start: dt.date, end: dt.date, frequency: str) -> list[dt.date]:
    """The period ends from start to end inclusive, ascending."""
    out, d = [], period_end(start, frequency)
    while d <= end:
        out.append(d)
        d = period_end(d + dt.timedelta(days=1), frequency)
    return out


def to_yyyymmdd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def parse_date(text: str) -> dt.date:
    """'yyyymmdd' or 'yyyy-mm-dd' -> date, with an error that quotes the text."""
    s = str(text).strip()
    try:
        if len(s) == 8 and s.isdigit():
            return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
        return dt.date.fromisoformat(s)
    except ValueError as exc:
        raise ValueError(f"not a date (want yyyymmdd or yyyy-mm-dd): {text!r}") from exc
