"""The rules of flowmosaic/calendar.py as Spark Columns (docs/methodology.md, "2. The flow
calendar" and "3. Point-in-time allocations (the 23rd rule)"). tests/spark/test_calendar_columns.py
checks both agree on every day of several years.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from flowmosaic.calendar import RELEASE_DAY, WEDNESDAY_WEEKS_FROM


def is_flow_date(d: Column) -> Column:
    """Weekdays except 1 January and 25 December (NULL for a NULL date)."""
    dow, m, day = F.dayofweek(d), F.month(d), F.dayofmonth(d)
    return dow.between(2, 6) & ~((m == 1) & (day == 1)) & ~((m == 12) & (day == 25))


def alloc_month(flow_date: Column) -> Column:
    """First day of the allocation month public on flow_date: the previous month's snapshot
    from the 23rd on, two months back before it."""
    back = F.when(F.dayofmonth(flow_date) >= RELEASE_DAY, F.lit(-1)).otherwise(F.lit(-2))
    return F.add_months(F.trunc(flow_date, "month"), back)


def month_start(d: Column) -> Column:
    return F.trunc(d, "MM")


def is_period_end(d: Column, frequency: str) -> Column:
    """A weekly row's date is a Wednesday (a Friday before 2001-09-19); a monthly row's is the
    last day of its month."""
    if frequency == "monthly":
        return d == F.last_day(d)
    wednesday = d >= F.lit(WEDNESDAY_WEEKS_FROM)
    return F.when(wednesday, F.dayofweek(d) == 4).otherwise(F.dayofweek(d) == 6)


def period_end(d: Column, frequency: str) -> Column:
    """The end of the week or month calendar day d belongs to (flowmosaic/calendar.py)."""
    if frequency == "monthly":
        return F.last_day(d)
    before = F.date_sub(d, 1)  # next_day is strictly after: from the day before, on or after d
    changeover = F.date_sub(F.lit(WEDNESDAY_WEEKS_FROM), 5)
    return F.when(d > changeover, F.next_day(before, "Wed")).otherwise(F.next_day(before, "Fri"))
