"""The coverage job: silver flows (daily, weekly, monthly), share classes, funds and
allocations -> gold `coverage` (docs/coverage.md).

Per universe and month m, four nested groups of funds with their month-end assets: every fund
reporting in m, the universe's funds, its daily reporters, and its daily reporters whose flows
reach the daily country flows (an allocation snapshot serving one of their days in m under the
23rd rule, or single-country funds without snapshots). A year's row repeats the values of its
last month with data.

Like the other gold jobs: the silver tables are read at pinned versions, recorded with the
job's parameters in the commit's userMetadata, and one commit replaces the universes' rows
(replaceWhere on the partition column), so a rerun is idempotent. The share-class rows are
reduced to fund-months in Spark; only the per-month result (a row per universe and month)
comes to the driver, where the year rows are picked from it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import Settings, load_countries
from flowmosaic.errors import InputError
from flowmosaic.spark import calendar as spark_cal
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import INVESTOR_TYPES, table
from flowmosaic.universes import Universe, select_universes

TARGET = "coverage"
# the flow tables, their date column and the source's rank: on a fund's latest report date
# in a month, a monthly row is taken before a weekly one, a weekly one before a daily one
MONTHLY, WEEKLY, DAILY = 1, 2, 3
FLOW_TABLES = {
    "share_class_flows": ("flow_date", DAILY),
    "share_class_flows_weekly": ("period_end", WEEKLY),
    "share_class_flows_monthly": ("period_end", MONTHLY),
}
REQUIRED = ("funds", "share_classes")
OPTIONAL = (*FLOW_TABLES, "fund_allocations")
# the four groups, in the order of the table's columns: (count column, assets column)
GROUPS = {
    "all": ("all_funds", "all_assets_usd"),
    "universe": ("universe_funds", "universe_assets_usd"),
    "daily": ("daily_funds", "daily_assets_usd"),
    "daily_alloc": ("daily_alloc_funds", "daily_alloc_assets_usd"),
}
COUNTS = [c for c, _ in GROUPS.values()]
ASSETS = [a for _, a in GROUPS.values()]


@dataclass
class Silver:
    frames: dict[str, DataFrame]
    versions: dict[str, int]


@dataclass
class CoverageRun:
    universes: list[str]
    source_versions: dict[str, int]
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # the rows written
    table_version: int | None = None
    seconds: float = 0.0
    spark_jobs: int | None = None
    path: str = ""

    def describe(self) -> str:
        starts = self.rows[self.rows["period"] == "month"]["period_start"] if len(self.rows) else []
        span = (
            f"{min(starts):%Y-%m} .. {max(starts):%Y-%m} ({len(set(starts))} with data)"
            if len(starts)
            else "none with data"
        )
        return "\n".join(
            [
                f"{TARGET}: {', '.join(self.universes)}",
                f"  months        {span}",
                f"  rows written  {len(self.rows):,}",
                f"  table         {self.path} (version {self.table_version})",
                "  read silver   " + ", ".join(f"{k}@{v}" for k, v in self.source_versions.items()),
                f"  seconds       {self.seconds:.1f}"
                + (f"; {self.spark_jobs} Spark jobs" if self.spark_jobs is not None else ""),
            ]
        )

    def of(self, universe: str) -> pd.DataFrame:
        """The rows of one universe, years first, then months, in date order."""
        return self.rows[self.rows["universe"] == universe].reset_index(drop=True)

    def meta(self, settings: Settings) -> dict[str, str]:
        """What a page says about its data: the warehouse, the table version, the silver read."""
        return {
            "warehouse": settings.warehouse,
            "table": f"{self.path} (version {self.table_version})",
            "silver read": ", ".join(f"{k}@{v}" for k, v in self.source_versions.items()),
        }


def read_sources(spark: SparkSession, settings: Settings) -> Silver:
    """The silver tables coverage reads, at their current versions. funds and share_classes
    must exist; a flow table or the allocations that were never ingested count as empty."""
    frames, versions = {}, {}
    for name in (*REQUIRED, *OPTIONAL):
        path = settings.table_path(name)
        if not storage.exists(spark, path):
            if name in REQUIRED:
                raise InputError(
                    f"silver table {name} not found at {path}: run `flowmosaic ingest` first"
                )
            continue
        versions[name] = storage.current_version(spark, path)
        frames[name] = storage.read(spark, path, versions[name])
    if not any(n in frames for n in FLOW_TABLES):
        raise InputError(
            "no flows: none of share_class_flows, share_class_flows_weekly, "
            "share_class_flows_monthly exists (run `flowmosaic ingest` with flows first)"
        )
    return Silver(frames, versions)


def share_rows(silver: Silver) -> DataFrame:
    """Every share-class row of the three flow tables: share_key, fund_key, date (the flow
    date or the period end), src (MONTHLY, WEEKLY, DAILY) and assets at the end of the row's
    day or period: AssetsEnd, else AssetsStart + Flow + PortfolioChange + ForexChange (a
    missing change counted as 0)."""
    end = F.coalesce(
        F.col("assets_end"),
        F.col("assets_start")
        + F.col("flow")
        + F.coalesce(F.col("portfolio_change"), F.lit(0.0))
        + F.coalesce(F.col("forex_change"), F.lit(0.0)),
    )
    parts = [
        silver.frames[name].select(
            "share_key",
            "fund_key",
            F.col(date).alias("date"),
            F.lit(src).alias("src"),
            end.alias("assets"),
        )
        for name, (date, src) in FLOW_TABLES.items()
        if name in silver.frames
    ]
    return reduce(DataFrame.unionByName, parts)


def of_types(rows: DataFrame, silver: Silver, types: tuple[str, ...] | None) -> DataFrame:
    """The rows of share classes of the investor types `types` (None: every share class). A
    type other than Institutional and Retail, or none, is Other (docs/methodology.md,
    section 4)."""
    if types is None:
        return rows
    itype = F.when(F.col("investor_type").isin(*INVESTOR_TYPES), F.col("investor_type"))
    classes = (
        silver.frames["share_classes"]
        .where(F.coalesce(itype, F.lit("Other")).isin(*types))
        .select("share_key")
    )
    return rows.join(F.broadcast(classes), "share_key", "left_semi")


def fund_dates(rows: DataFrame) -> DataFrame:
    """Share-class rows added up per (fund, date, source): fund_key, date, src, assets."""
    return rows.groupBy("fund_key", "date", "src").agg(F.sum("assets").alias("assets"))


def fund_months(dates: DataFrame) -> DataFrame:
    """One row per fund and month with a report: fund_key, month (its first day), assets (the
    fund's sum on its latest report date in the month, from one source: monthly before weekly
    before daily when several report on that date) and daily (it has daily rows in the
    month)."""
    order = F.unix_date("date") * 4 + (F.lit(4) - F.col("src"))
    return dates.groupBy("fund_key", F.trunc("date", "MM").alias("month")).agg(
        F.max_by("assets", order).alias("assets"),
        F.bool_or(F.col("src") == F.lit(DAILY)).alias("daily"),
    )


def allocated_months(
    dates: DataFrame, silver: Silver, destinations: tuple[str, ...], ex_domestic: bool
) -> DataFrame:
    """(fund_key, month) of the fund-months whose daily flows reach a country of the daily
    country flows: an allocation snapshot serves one of the fund's daily dates in the month
    (the 23rd rule, no carry-forward), or the fund is single-country (CrossBorder false,
    its focus a destination) and never reported an allocation. Ex-domestic: a snapshot must
    hold a country other than the fund's domicile, a single-country fund's focus must not be
    its domicile."""
    days = (
        dates.where(F.col("src") == F.lit(DAILY))
        .select(
            "fund_key",
            F.trunc("date", "MM").alias("month"),
            spark_cal.alloc_month(F.col("date")).alias("alloc_month"),
        )
        .distinct()
    )
    funds = silver.frames["funds"]
    focus = F.upper(F.trim(F.col("geographic_focus")))
    listed = ", ".join(storage.sql_string(c) for c in destinations)
    single = funds.where(
        (F.col("cross_border") == F.lit(False))
        & F.expr(f"upper(trim(geographic_focus)) IN ({listed})")
    )
    if ex_domestic:
        single = single.where(~F.coalesce(focus == F.col("domicile"), F.lit(False)))
    parts = []
    allocs = silver.frames.get("fund_allocations")
    if allocs is not None:
        single = single.join(allocs.select("fund_key"), "fund_key", "left_anti")
        snaps = allocs.select("fund_key", "alloc_month", "country")
        if ex_domestic:
            snaps = snaps.join(funds.select("fund_key", "domicile"), "fund_key").where(
                ~F.coalesce(F.col("country") == F.col("domicile"), F.lit(False))
            )
        snaps = snaps.select("fund_key", "alloc_month").distinct()
        parts.append(days.join(snaps, ["fund_key", "alloc_month"], "left_semi"))
    parts.append(days.join(single.select("fund_key"), "fund_key", "left_semi"))
    return (
        reduce(DataFrame.unionByName, parts)
        .select("fund_key", "month")
        .distinct()
        .withColumn("allocated", F.lit(True))
    )


def _sums(keep: Column, group: str) -> list[Column]:
    """A group's fund count and assets over the fund-months where `keep` holds."""
    count, assets = GROUPS[group]
    return [
        F.count(F.when(keep, F.lit(1))).alias(count),
        F.sum(F.when(keep, F.col("assets"))).alias(assets),
    ]


def month_rows(
    silver: Silver, universes: list[Universe], destinations: tuple[str, ...]
) -> DataFrame:
    """Per universe and month with a report of any fund: the four groups' fund counts and
    assets (a plan: nothing computed yet)."""
    rows = share_rows(silver)
    dates: dict[tuple[str, ...] | None, DataFrame] = {}
    months: dict[tuple[str, ...] | None, DataFrame] = {}
    allocated: dict[tuple[tuple[str, ...] | None, bool], DataFrame] = {}

    def scope(types: tuple[str, ...] | None) -> DataFrame:
        if types not in months:
            dates[types] = fund_dates(of_types(rows, silver, types))
            months[types] = fund_months(dates[types])
        return months[types]

    everyone = scope(None).groupBy("month").agg(*_sums(F.lit(True), "all"))
    parts = []
    for u in universes:
        types = tuple(sorted(u.investor_type)) if u.investor_type else None
        fm = scope(types)
        key = (types, u.ex_domestic)
        if key not in allocated:
            allocated[key] = allocated_months(dates[types], silver, destinations, u.ex_domestic)
        members = silver.frames["funds"].where(u.fund_filter()).select("fund_key")
        fm = fm.join(members, "fund_key", "left_semi").join(
            allocated[key], ["fund_key", "month"], "left"
        )
        daily = F.col("daily")
        with_alloc = daily & F.coalesce(F.col("allocated"), F.lit(False))
        agg = fm.groupBy("month").agg(
            *_sums(F.lit(True), "universe"),
            *_sums(daily, "daily"),
            *_sums(with_alloc, "daily_alloc"),
        )
        parts.append(
            everyone.select("month", F.lit(u.name).alias("universe")).join(agg, "month", "left")
        )
    return everyone.join(reduce(DataFrame.unionByName, parts), "month")


def periods(monthly: pd.DataFrame) -> pd.DataFrame:
    """The table's rows from the per-month result (universe, month, the groups' counts and
    assets): a month row per month, and per year the values of its last month with data,
    as_of that month's last day. Empty groups count 0 funds and 0 assets."""
    if monthly.empty:
        return pd.DataFrame(columns=table(TARGET).columns)
    m = monthly.copy()
    m[COUNTS] = m[COUNTS].fillna(0).astype("int64")
    m[ASSETS] = m[ASSETS].fillna(0.0).astype(float)
    m["month"] = [d if isinstance(d, dt.date) else pd.Timestamp(d).date() for d in m["month"]]
    m["as_of"] = [cal.month_end(d) for d in m["month"]]
    m = m.sort_values(["universe", "month"])
    months = m.assign(period="month", period_start=m["month"])
    years = m.groupby(["universe", m["month"].map(lambda d: d.year)], sort=False).tail(1)
    years = years.assign(
        period="year", period_start=[dt.date(d.year, 1, 1) for d in years["month"]]
    )
    out = pd.concat([years, months], ignore_index=True)
    out = out.sort_values(["universe", "period", "period_start"], ascending=[True, False, True])
    return out[table(TARGET).columns].reset_index(drop=True)


def run(
    spark: SparkSession,
    settings: Settings,
    universe_names: str | list[str],
    universes_path: str | None = None,
    progress: Callable[[str], None] = print,
) -> CoverageRun:
    """Compute the coverage of the universes and replace their rows of gold `coverage`."""
    t0 = time.time()
    universes = list({u.name: u for u in select_universes(universe_names, universes_path)}.values())
    names = [u.name for u in universes]
    with JobCounter(spark, f"{TARGET}-{int(t0)}") as jobs:
        silver = read_sources(spark, settings)
        result = CoverageRun(names, silver.versions, path=settings.table_path(TARGET))
        progress(f"{TARGET}: {', '.join(names)} from " + ", ".join(silver.versions))
        plan = month_rows(silver, universes, load_countries().destinations)
        rows = periods(plan.toPandas())
        t = table(TARGET)
        path = storage.ensure(spark, settings, TARGET)
        out = spark.createDataFrame(rows if len(rows) else [], t.schema)
        in_list = ", ".join(storage.sql_string(n) for n in names)
        storage.replace_where(
            out.repartition(1, "universe").sortWithinPartitions(
                "universe", "period", "period_start"
            ),
            path,
            f"universe IN ({in_list})",
            {"job": TARGET, "universes": names, "source_versions": silver.versions},
        )
        w = storage.Written.from_commit(storage.commit_info(spark, path))
        result.table_version, result.rows = w.version, rows
    result.spark_jobs = jobs.jobs
    result.seconds = time.time() - t0
    return result
