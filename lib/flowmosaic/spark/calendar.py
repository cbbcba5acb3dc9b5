"""The rules of flowmosaic/calendar.py as Spark Columns (docs/methodology.md, "2. The flow
calendar" and "3. Point-in-time allocations (the 23rd rule)"). tests/spark/test_calendar_columns.py
checks both agree on every day of several years.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from flowmosaic.calendar import RELEASE_DAY


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
