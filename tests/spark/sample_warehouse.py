"""A small warehouse for reader tests: synthetic rows for any table of tables.py that satisfy its
CHECK constraints (flow calendar, month columns, ISO2 countries, positive counts...), and one
write of every table."""

from __future__ import annotations

import datetime as dt

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from flowmosaic import storage
from flowmosaic.tables import TABLES, Table

COUNTRIES = ("US", "JP", "DE")
# names whose values must be one of a few (constraints, or what readers group by)
CHOICES = {
    "country": COUNTRIES,
    "frequency": ("daily", "monthly"),
    "universe": ("U1", "U2"),
    "investor_type": ("Retail", "Institutional"),
    "source_table": ("share_class_flows",),
    "reason": ("bad_date", "duplicate"),
    "investor_domicile": ("LU", "IE"),
    "hedge_status": ("hedged", "unhedged", "unknown"),
    "period": ("year", "month"),
    "line_kind": ("cash", "other"),
}
MONTH_OF = {"flow_month": "flow_date", "alloc_month": "report_date"}


def flow_days(start: dt.date, n: int) -> list[dt.date]:
    """n flow dates from start on: weekdays other than 1 January and 25 December."""
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5 and (d.month, d.day) not in ((1, 1), (12, 25)):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def period_end(day: dt.date, frequency: str) -> dt.date:
    if frequency == "weekly":
        return day + dt.timedelta(days=(2 - day.weekday()) % 7)
    nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def sample_rows(
    t: Table, n: int = 8, start: dt.date = dt.date(2024, 1, 29), scale: float = 1.0
) -> list[tuple]:
    """n rows for table t; row i falls on the i-th flow date from start (two months' worth)."""
    days = flow_days(start, n)
    rows = []
    for i, day in enumerate(days):
        values: dict[str, object] = {}
        for f in t.schema.fields:
            name, dtype = f.name, f.dataType
            if name in MONTH_OF or name == "period_year":
                continue
            if name in CHOICES:
                v = CHOICES[name][i % len(CHOICES[name])]
            elif isinstance(dtype, DateType):
                v = day
            elif isinstance(dtype, TimestampType):
                v = dt.datetime(2024, 2, 1, 12, 0, i)
            elif isinstance(dtype, StringType):
                v = f"{name}-{i}"
            elif isinstance(dtype, (IntegerType, LongType)):
                v = i + 1  # keys >= 0, counts > 0
            elif isinstance(dtype, DoubleType):
                v = 1.0 + i % 90 if name == "allocation_pct" else round((i + 1) * 1.25 * scale, 6)
            elif isinstance(dtype, BooleanType):
                v = i % 2 == 0
            else:
                raise TypeError(f"{t.name}.{name}: no sample for {dtype}")
            values[name] = v
        for name, of in MONTH_OF.items():
            if name in t.columns:
                values[name] = values[of].replace(day=1)
        if "period_end" in t.columns:  # a week's end (Wednesday) or a month's last day
            values["period_end"] = period_end(day, "weekly" if "weekly" in t.name else "monthly")
            if "period_year" in t.columns:
                values["period_year"] = values["period_end"].year
        rows.append(tuple(values[c] for c in t.columns))
    return rows


def write_every_table(spark, settings, n: int = 8) -> dict[str, str]:
    """Create every table (storage.ensure) and append n sample rows once; -> {name: path}."""
    paths = {}
    for name, t in TABLES.items():
        path = storage.ensure(spark, settings, name)
        storage.append(
            spark.createDataFrame(sample_rows(t, n), t.schema), path, metadata={"operation": "test"}
        )
        paths[name] = path
    return paths
