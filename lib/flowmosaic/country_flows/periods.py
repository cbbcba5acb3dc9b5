"""Weekly and monthly country flows (docs/methodology.md, "12. Weekly and monthly reporters"):
silver weekly / monthly share-class rows and daily fund-days -> gold weekly_country_flows /
monthly_country_flows, over every fund able to report at that grain.

One row per fund and period, never two: a fund's own weekly (monthly) rows for a period when
it has any, else its daily fund-days of the period summed (flow and portfolio change summed,
assets at the start = the first day's). A weekly reporter has no month (its weeks straddle
months), so monthly country flows hold monthly and daily reporters. Weights: the 23rd rule on
the period's end date, which for a month is the previous month's snapshot (the start-of-month
weights). Same universes, window and idempotency rules as the daily job: one commit replaces
the universes' periods ending inside the window.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import Settings, load_countries
from flowmosaic.country_flows import sources, transforms
from flowmosaic.country_flows.job import CountryFlowsRun
from flowmosaic.errors import InputError
from flowmosaic.ingest.fund_days import investor_type_code
from flowmosaic.ingest.periodic import window_predicate as period_predicate
from flowmosaic.spark import calendar as spark_cal
from flowmosaic.tables import INVESTOR_TYPES, table
from flowmosaic.universes import Universe, select_universes

FREQUENCIES = cal.FREQUENCIES
KEYS = ["universe", "fund_key", "domicile", "single", "ex_domestic", "period_end"]


def target(frequency: str) -> str:
    return f"{frequency}_country_flows"


def _check(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise InputError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")


def days_by_period(udays: DataFrame, frequency: str) -> DataFrame:
    """Universe fund-days (transforms.universe_fund_days) summed into the fund's periods:
    flow and portfolio change summed, assets_start of the first day."""
    pe = spark_cal.period_end(F.col("flow_date"), frequency)
    return (
        udays.withColumn("period_end", pe)
        .groupBy(*KEYS)
        .agg(
            F.sum("flow").alias("flow"),
            F.min_by("assets_start", "flow_date").alias("assets_start"),
            F.sum("portfolio_change").alias("portfolio_change"),
        )
        .withColumn("from_days", F.lit(True))
    )


def own_by_period(
    rows: DataFrame, share_classes: DataFrame, members: DataFrame, universes: list[Universe]
) -> DataFrame:
    """Weekly or monthly share-class rows summed to (universe, fund, period) over the share
    classes of the universe's investor types (a type not Institutional or Retail is Other)."""
    types = F.broadcast(
        share_classes.select("share_key", investor_type_code(F.col("investor_type")).alias("_t"))
    )
    joined = (
        rows.join(types, "share_key", "left")
        .fillna({"_t": INVESTOR_TYPES.index("Other")})
        .join(F.broadcast(members), "fund_key")
    )

    def selected(u: Universe):
        wanted = tuple(u.investor_type) if u.investor_type else INVESTOR_TYPES
        return F.col("_t").isin(*[INVESTOR_TYPES.index(t) for t in wanted])

    keep = transforms._by_universe(universes, selected)
    return (
        joined.where(keep)
        .groupBy(*KEYS)
        .agg(
            F.sum("flow").alias("flow"),
            F.sum("assets_start").alias("assets_start"),
            F.sum(F.coalesce(F.col("portfolio_change"), F.lit(0.0))).alias("portfolio_change"),
        )
        .withColumn("from_days", F.lit(False))
    )


def fund_periods(days: DataFrame, own: DataFrame, own_keys: DataFrame) -> DataFrame:
    """One row per (universe, fund, period): the fund's own row where it has one for the
    period (own_keys: every (fund_key, period_end) with an own row, before any filter), else
    its days summed."""
    from_days = days.join(F.broadcast(own_keys), ["fund_key", "period_end"], "left_anti")
    return from_days.unionByName(own)


def aggregate(periods: DataFrame, allocations: DataFrame, countries: tuple[str, ...]) -> DataFrame:
    """Fund-periods -> (universe, period_end, country) sums with the 23rd rule's weights on the
    period's end date; fund_count and funds_from_days."""
    udays = periods.withColumns(
        {
            "flow_date": F.col("period_end"),
            "alloc_month": spark_cal.alloc_month(F.col("period_end")),
        }
    ).drop("period_end")
    rows = transforms.aggregate(
        udays,
        transforms.weights(allocations),
        countries,
        extra=(F.sum(F.col("from_days").cast("long")).alias("funds_from_days"),),
    )
    return rows.withColumnRenamed("flow_date", "period_end")


def finish(rows: DataFrame, frequency: str) -> DataFrame:
    out = rows.withColumns(
        {
            "flow_pct": F.try_divide(F.col("flow_usd") * 100.0, F.col("assets_start_usd")),
            "pseudo_return_pct": F.try_divide(
                F.col("portfolio_change_usd") * 100.0, F.col("assets_start_usd")
            ),
        }
    )
    return out.select(
        *[F.col(f.name).cast(f.dataType) for f in table(target(frequency)).schema.fields]
    )


def window_predicate(start: dt.date, end: dt.date, names: list[str]) -> str:
    in_list = ", ".join(storage.sql_string(n) for n in names)
    return f"universe IN ({in_list}) AND {period_predicate(start, end)}"


def last_flow_date(d: dt.date) -> dt.date:
    """The last flow date on or before d."""
    while not cal.is_flow_date(d):
        d -= dt.timedelta(days=1)
    return d


def _span(silver: sources.Silver, own_name: str) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day with a daily or an own row."""
    spans = []
    if "fund_days" in silver.frames:
        spans.append(silver.frames["fund_days"].agg(F.min("flow_date"), F.max("flow_date")))
    if own_name in silver.frames:
        spans.append(silver.frames[own_name].agg(F.min("period_end"), F.max("period_end")))
    got = [r for s in spans for r in s.collect() if r[0] is not None]
    if not got:
        return None, None
    return min(r[0] for r in got), max(r[1] for r in got)


def read_silver(spark: SparkSession, settings: Settings, own_name: str) -> sources.Silver:
    """funds, allocations and share classes must be there; fund_days (daily reporters) and
    the own rows (weekly or monthly reporters) are read when they exist."""
    silver = sources.read_silver(spark, settings, ("funds", "fund_allocations", "share_classes"))
    for name in ("fund_days", own_name):
        path = settings.table_path(name)
        if storage.exists(spark, path):
            silver.versions[name] = storage.current_version(spark, path)
            silver.paths[name] = path
            silver.frames[name] = storage.read(spark, path, silver.versions[name])
    return silver


def run(
    spark: SparkSession,
    settings: Settings,
    universe_names: str | list[str],
    frequency: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    universes_path: str | None = None,
    progress: Callable[[str], None] = print,
) -> CountryFlowsRun:
    """Weekly or monthly country flows of the universes for the periods ending in
    [start, end] (default: every period with data)."""
    t0 = time.time()
    _check(frequency)
    universes = select_universes(universe_names, universes_path)
    names = [u.name for u in universes]
    own_name = f"share_class_flows_{frequency}"
    silver = read_silver(spark, settings, own_name)
    if "fund_days" not in silver.frames and own_name not in silver.frames:
        raise InputError(
            f"neither daily nor {frequency} flows are ingested: run `flowmosaic ingest` first"
        )
    lo, hi = _span(silver, own_name)
    if lo is None or hi is None:
        raise InputError(f"no daily or {frequency} rows to aggregate")
    start = cal.period_end(start or lo, frequency)
    if end is None:  # the last period the data covers: its last flow date is in the data
        complete = [
            p
            for p in cal.period_ends(start, cal.period_end(hi, frequency), frequency)
            if last_flow_date(p) <= hi
        ]
        end = complete[-1] if complete else start
    ends = cal.period_ends(start, end, frequency)
    if not ends:
        raise InputError(f"no {frequency} period ends between {start} and {end}")
    start, end = ends[0], ends[-1]
    first_day = cal.period_start(start, frequency)  # the days of the first period
    countries = sources.destinations_in(silver, load_countries(), start, end, 0)
    mem = sources.members(spark, silver, universes, countries)
    members = transforms.members_frame(spark, mem, universes)
    empty = spark.createDataFrame([], ", ".join([*_key_schema(), *_measure_schema()]))
    days = empty
    if "fund_days" in silver.frames:
        window = silver.frames["fund_days"].where(
            F.col("flow_date").between(first_day, end)
            & F.col("flow_month").between(cal.month_start(first_day), cal.month_start(end))
        )
        udays = transforms.universe_fund_days(window, members, universes)
        days = days_by_period(udays, frequency).where(F.col("period_end").between(start, end))
    own, own_keys = empty, spark.createDataFrame([], "fund_key int, period_end date")
    if own_name in silver.frames:
        rows = silver.frames[own_name].where(period_predicate(start, end))
        own = own_by_period(rows, silver.frames["share_classes"], members, universes)
        own_keys = rows.select("fund_key", "period_end").distinct()
    periods = fund_periods(days, own, own_keys)
    allocs = silver.frames["fund_allocations"].where(
        F.col("alloc_month").between(cal.alloc_month(start), cal.alloc_month(end))
    )
    out = finish(aggregate(periods, allocs, countries), frequency)
    name = target(frequency)
    path = storage.ensure(spark, settings, name)
    progress(f"{name}: {', '.join(names)} periods ending {start}..{end}")
    storage.replace_where(
        out.repartition("universe", F.year("period_end")).sortWithinPartitions(
            "universe", "period_end"
        ),
        path,
        window_predicate(start, end, names),
        {
            "job": "country-flows",
            "frequency": frequency,
            "universes": names,
            "window": [str(start), str(end)],
            "source_versions": silver.versions,
        },
    )
    w = storage.Written.from_commit(storage.commit_info(spark, path))
    return CountryFlowsRun(
        names,
        start,
        end,
        silver.versions,
        table=name,
        engine="fund-period",
        rows_written=w.written,
        rows_copied=w.copied,
        files_removed=w.files_removed,
        table_version=w.version,
        seconds=time.time() - t0,
        path=path,
    )


def _key_schema() -> list[str]:
    return [
        "universe string",
        "fund_key int",
        "domicile string",
        "single int",
        "ex_domestic boolean",
        "period_end date",
    ]


def _measure_schema() -> list[str]:
    return ["flow double", "assets_start double", "portfolio_change double", "from_days boolean"]
