"""The country-flows job: silver fund_days + allocations -> gold `country_flows` (or, at the
investor grain, `investor_country_flows`: the mosaic), over a window of flow dates.

Idempotent on a window: one Delta commit replaces exactly (universes x the window) via
replaceWhere. Silver tables are read at pinned versions, recorded with the job's parameters
in the commit's userMetadata. The gold tables are partitioned by (universe, flow_month), one
file per partition: replacing a window rewrites only its months' files, and jobs on windows of
different months do not conflict.

Two engines compute the same rows (docs/benchmarks.md compares them): `matrix` (default), a
dense matrix product per allocation month in numpy inside Spark tasks (matrix.py), and
`join`, Spark equi-joins with the weights broadcast (transforms.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import Settings, load_countries
from flowmosaic.country_flows import matrix, sources, transforms
from flowmosaic.errors import InputError
from flowmosaic.spark import calendar as spark_cal
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import INVESTOR_TYPES, fund_day_column, table
from flowmosaic.universes import Universe, select_universes

ENGINES = ("matrix", "join")
GRAINS = {"country": "country_flows", "investor": "investor_country_flows"}


@dataclass
class CountryFlowsRun:
    universes: list[str]
    start: dt.date | None
    end: dt.date | None
    source_versions: dict[str, int]
    table: str = "country_flows"
    engine: str = "matrix"
    rows_written: int = 0  # the window's rows
    rows_copied: int = 0  # rows outside the window kept from rewritten files
    files_removed: int = 0
    table_version: int | None = None
    seconds: float = 0.0
    spark_jobs: int | None = None
    path: str = ""

    def describe(self) -> str:
        lines = [
            f"{self.table}: {', '.join(self.universes)} ({self.engine} engine)",
            f"  window        {self.start} .. {self.end}",
            f"  rows written  {self.rows_written:,} (window); copied {self.rows_copied:,} "
            f"from {self.files_removed} rewritten file(s)",
            f"  table         {self.path} (version {self.table_version})",
            "  read silver   " + ", ".join(f"{k}@{v}" for k, v in self.source_versions.items()),
            f"  seconds       {self.seconds:.1f}"
            + (f"; {self.spark_jobs} Spark jobs" if self.spark_jobs is not None else ""),
        ]
        return "\n".join(lines)


def window_for_alloc_month(month: dt.date, max_age_months: int = 0) -> tuple[dt.date, dt.date]:
    """Flow dates a (re)ingested allocation month can affect: where it is, or may be carried
    forward as, the applicable snapshot."""
    start, _ = cal.applicable_window(month)
    _, end = cal.applicable_window(cal.add_months(month, max_age_months))
    return start, end


def fund_day_window(silver: sources.Silver, lo: dt.date, hi: dt.date) -> DataFrame:
    """fund_days of [lo, hi], pruned to the window's month partitions."""
    return silver.frames["fund_days"].where(
        F.col("flow_date").between(lo, hi)
        & F.col("flow_month").between(cal.month_start(lo), cal.month_start(hi))
    )


def _measures() -> list[str]:
    return [
        fund_day_column(m, t)
        for t in INVESTOR_TYPES
        for m in ("flow", "assets_start", "portfolio_change")
    ]


def matrix_rows(
    spark: SparkSession,
    silver: sources.Silver,
    universes: list[Universe],
    mem: dict,
    lo: dt.date,
    hi: dt.date,
    countries: tuple[str, ...],
    max_age_months: int,
    grain: str,
) -> DataFrame:
    """The matrix engine: the window's fund-days of member funds and the weights relation,
    co-grouped by allocation month, the kernel run once per month in a task (matrix.py), whose
    rows are the output's. The driver holds the plan only: member keys,
    domiciles, the country list and the single-country funds."""
    keys = set().union(*[set(m["fund_key"]) for m in mem.values()]) if mem else set()
    member_keys = sources.key_frame(spark, keys)  # fund-days of other funds stay in Spark
    schema = matrix.INVESTOR_SCHEMA if grain == "investor" else matrix.COUNTRY_SCHEMA
    days = (
        fund_day_window(silver, lo, hi)
        .join(member_keys, "fund_key", "left_semi")
        .select(
            F.unix_date(spark_cal.alloc_month(F.col("flow_date"))).alias("m"),
            "flow_date",
            "fund_key",
            *_measures(),
        )
    )
    weights = sources.month_weight_rows(
        silver, sources.alloc_months(lo, hi), countries, max_age_months
    )
    plan = sources.plan(universes, mem, countries, grain == "investor")
    # A flow date has one allocation month, and the kernel runs once per month giving one row
    # per output key of its dates: the rows are final, no adding up across months (a shuffle)
    return (
        days.groupBy("m")
        .cogroup(weights.groupBy("m"))
        .applyInArrow(matrix.month_function(plan), schema)
    )


def join_rows(
    spark: SparkSession,
    silver: sources.Silver,
    universes: list[Universe],
    mem: dict,
    lo: dt.date,
    hi: dt.date,
    countries: tuple[str, ...],
    max_age_months: int,
    grain: str,
) -> DataFrame:
    """The join engine: Spark equi-joins over the same inputs (transforms.py)."""
    months = sources.alloc_months(lo, hi)
    m_lo = cal.add_months(months[0], -max_age_months)
    allocs = silver.frames["fund_allocations"].where(F.col("alloc_month").between(m_lo, months[-1]))
    return transforms.country_rows(
        spark,
        fund_day_window(silver, lo, hi),
        mem,
        universes,
        allocs,
        countries,
        max_age_months,
        grain,
    )


def finish(rows: DataFrame, grain: str) -> DataFrame:
    """Output columns of the gold table (flow_pct and pseudo-return at the country grain)."""
    if grain == "country":
        rows = rows.withColumns(
            {
                # try_divide: NULL, not an ANSI error, where a country's assets sum to 0
                "flow_pct": F.try_divide(F.col("flow_usd") * 100.0, F.col("assets_start_usd")),
                "pseudo_return_pct": F.try_divide(
                    F.col("portfolio_change_usd") * 100.0, F.col("assets_start_usd")
                ),
            }
        )
    cols = table(GRAINS[grain]).schema
    return rows.select(*[F.col(f.name).cast(f.dataType) for f in cols.fields])


def clustered_by_month(df: DataFrame) -> DataFrame:
    """One task, hence one file, per (universe, month) partition, dates in order. Hash
    partitioning never splits a group; several groups may share a task and still get a file
    each, since the table is partitioned by (universe, flow_month)."""
    return df.repartition("universe", F.trunc("flow_date", "MM")).sortWithinPartitions(
        "universe", "flow_date"
    )


def _span(rows: DataFrame) -> tuple[dt.date | None, dt.date | None]:
    """The first and last flow_date of `rows` (None, None when there are none)."""
    row = rows.agg(F.min("flow_date"), F.max("flow_date")).first()
    assert row is not None  # a global aggregate has one row
    return row[0], row[1]


def resolve_window(
    silver: sources.Silver,
    name: str,
    start: dt.date | None,
    end: dt.date | None,
    alloc_month: dt.date | None,
    max_age_months: int,
) -> tuple[dt.date, dt.date]:
    """The flow dates a run covers: those alloc_month's snapshot can serve, else start..end
    with the silver table `name`'s first and last flow date where not given (reused by warm
    runs at the same table version)."""
    if alloc_month is not None:
        start, end = window_for_alloc_month(cal.month_start(alloc_month), max_age_months)
    if start is None or end is None:
        lo, hi = sources.memo(("span", silver.at(name)), lambda: _span(silver.frames[name]))
        if lo is None or hi is None:
            raise InputError(
                f"{name} is empty: nothing to aggregate (run `flowmosaic ingest` with flows first)"
            )
        start, end = start or lo, end or hi
    if start > end:
        raise InputError(f"empty window: start {start} is after end {end}")
    return start, end


def write_window(
    spark: SparkSession,
    settings: Settings,
    result: CountryFlowsRun,
    rows: DataFrame,
    max_age_months: int,
    job: str,
    progress: Callable[[str], None],
) -> None:
    """One commit replacing exactly (result.universes x result's window) of result.table with
    `rows` (one file per universe and month), the run's parameters and silver versions in its
    userMetadata; what it wrote is recorded in `result`."""
    start, end = result.start, result.end
    assert start is not None and end is not None  # resolve_window gave them
    path = storage.ensure(spark, settings, result.table)
    names = result.universes
    in_list = ", ".join(storage.sql_string(n) for n in names)
    predicate = storage.date_window_predicate(
        start, end, "flow_date", "flow_month", f"universe IN ({in_list})"
    )
    progress(f"{result.table}: {', '.join(names)} {start}..{end}, {result.engine} engine")
    storage.replace_where(
        clustered_by_month(rows),
        path,
        predicate,
        {
            "job": job,
            "universes": names,
            "window": [str(start), str(end)],
            "engine": result.engine,
            "allocation_max_age_months": max_age_months,
            "source_versions": result.source_versions,
        },
    )
    w = storage.Written.from_commit(storage.commit_info(spark, path))
    result.table_version, result.rows_written = w.version, w.written
    result.rows_copied, result.files_removed = w.copied, w.files_removed


def run(
    spark: SparkSession,
    settings: Settings,
    universe_names: str | list[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    alloc_month: dt.date | None = None,
    max_age_months: int = 0,
    universes_path: str | None = None,
    engine: str = "matrix",
    grain: str = "country",
    progress: Callable[[str], None] = print,
) -> CountryFlowsRun:
    t0 = time.time()
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if max_age_months < 0:
        raise InputError("allocation_max_age_months must be 0 (off) or more")
    universes = select_universes(universe_names, universes_path)
    names = [u.name for u in universes]
    target = GRAINS[grain]
    with JobCounter(spark, f"{target}-{int(t0)}") as jobs:
        silver = sources.read_silver(spark, settings)
        start, end = resolve_window(silver, "fund_days", start, end, alloc_month, max_age_months)
        result = CountryFlowsRun(
            names,
            start,
            end,
            silver.versions,
            table=target,
            engine=engine,
            path=settings.table_path(target),
        )
        countries = sources.destinations_in(silver, load_countries(), start, end, max_age_months)
        mem = sources.members(spark, silver, universes, countries)
        engine_rows = matrix_rows if engine == "matrix" else join_rows
        rows = engine_rows(
            spark, silver, universes, mem, start, end, countries, max_age_months, grain
        )
        job = "mosaic-flows" if grain == "investor" else "country-flows"
        write_window(spark, settings, result, finish(rows, grain), max_age_months, job, progress)
    result.spark_jobs = jobs.jobs
    result.seconds = time.time() - t0
    return result
