"""The calendar's Spark Columns (flowmosaic.spark.calendar) agree with the pure-Python rules
(flowmosaic.calendar) on every calendar day from 2019-12-20 to 2025-01-10: two New Years and
Christmases on weekdays and weekends, leap day 2020 and 2024, every 22nd/23rd."""

import datetime as dt

from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic.spark import calendar as scal

START, END = dt.date(2019, 12, 20), dt.date(2025, 1, 10)


def test_is_flow_date_and_alloc_month_match_calendar_every_day(spark):
    df = spark.sql(
        f"SELECT explode(sequence(DATE'{START}', DATE'{END}', INTERVAL 1 DAY)) AS d"
    ).select(
        "d",
        scal.is_flow_date(F.col("d")).alias("flow"),
        scal.alloc_month(F.col("d")).alias("alloc"),
        scal.month_start(F.col("d")).alias("month"),
    )
    rows = df.collect()
    assert len(rows) == (END - START).days + 1
    assert rows[0].d == START and rows[-1].d == END
    bad = [
        (r.d, r.flow, r.alloc, r.month)
        for r in rows
        if r.flow is not cal.is_flow_date(r.d)
        or r.alloc != cal.alloc_month(r.d)
        or r.month != cal.month_start(r.d)
    ]
    assert not bad, bad[:5]
    # the days the check covers include the rules' edges
    flow = {r.d: r.flow for r in rows}
    assert flow[dt.date(2024, 12, 25)] is False and flow[dt.date(2025, 1, 1)] is False
    assert flow[dt.date(2020, 12, 24)] is True and flow[dt.date(2024, 2, 29)] is True
    assert sum(flow.values()) == len(cal.flow_dates(START, END))


def test_null_date_gives_null(spark):
    row = (
        spark.sql("SELECT CAST(NULL AS DATE) AS d")
        .select(
            scal.is_flow_date(F.col("d")).alias("flow"), scal.alloc_month(F.col("d")).alias("alloc")
        )
        .first()
    )
    assert row.flow is None and row.alloc is None


def test_period_ends_match_calendar_every_day_across_the_2001_change_over(spark):
    """Weeks end on Fridays until 2001-09-14, then on Wednesdays (the change-over week runs
    Saturday 15 to Wednesday 19 September 2001); months on their last day."""
    lo, hi = dt.date(2001, 8, 1), dt.date(2002, 3, 31)
    df = spark.sql(f"SELECT explode(sequence(DATE'{lo}', DATE'{hi}', INTERVAL 1 DAY)) AS d").select(
        "d",
        *[scal.period_end(F.col("d"), f).alias(f"end_{f}") for f in cal.FREQUENCIES],
        *[scal.is_period_end(F.col("d"), f).alias(f"is_{f}") for f in cal.FREQUENCIES],
    )
    rows = df.collect()
    bad = [
        r.d
        for r in rows
        for f in cal.FREQUENCIES
        if r[f"end_{f}"] != cal.period_end(r.d, f) or r[f"is_{f}"] is not cal.is_period_end(r.d, f)
    ]
    assert not bad, bad[:5]
    ends = {r.d: r.end_weekly for r in rows}
    assert ends[dt.date(2001, 9, 8)] == dt.date(2001, 9, 14)  # Saturday -> Friday
    assert ends[dt.date(2001, 9, 15)] == dt.date(2001, 9, 19)  # change-over week
    assert ends[dt.date(2001, 9, 20)] == dt.date(2001, 9, 26)  # Thursday -> Wednesday
    assert cal.period_start(dt.date(2001, 9, 19), "weekly") == dt.date(2001, 9, 15)
    assert cal.period_start(dt.date(2024, 3, 31), "monthly") == dt.date(2024, 3, 1)
    weekly = [d for d in cal.period_ends(lo, hi, "weekly")]
    assert all(cal.is_period_end(d, "weekly") for d in weekly)
    assert weekly[weekly.index(dt.date(2001, 9, 14)) + 1] == dt.date(2001, 9, 19)
