"""The country-flows job: silver tables -> gold `country_flows`, over a window of flow dates.

Idempotent on a window: each batch of allocation months is one Delta commit that replaces
exactly (universes x that flow-date range) via replaceWhere. Silver tables are read at pinned
versions, recorded with the job's parameters in each commit's userMetadata.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import flows as fl
from flowmosaic import schemas, storage
from flowmosaic.config import Settings
from flowmosaic.errors import InputError
from flowmosaic.universes import select_universes

SOURCES = ("share_class_flows", "share_classes", "funds", "fund_allocations")
# Allocation rows per batch: the batch's weights are broadcast, so they must stay small.
DEFAULT_BATCH_ALLOC_ROWS = 2_000_000


@dataclass
class CountryFlowsRun:
    universes: list[str]
    start: dt.date | None
    end: dt.date | None
    source_versions: dict[str, int]
    batches: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    rows_written: int = 0
    table_version: int | None = None
    seconds: float = 0.0
    path: str = ""

    def describe(self) -> str:
        lines = [f"country_flows: {', '.join(self.universes)}",
                 f"  window        {self.start} .. {self.end} in {len(self.batches)} batch(es)",
                 f"  rows written  {self.rows_written:,}",
                 f"  table         {self.path} (version {self.table_version})",
                 f"  read silver   " + ", ".join(f"{k}@{v}" for k, v in self.source_versions.items()),
                 f"  seconds       {self.seconds:.1f}"]
        return "\n".join(lines)


def ensure_country_flows_table(spark: SparkSession, path: str) -> None:
    storage.ensure_table(spark, path, schemas.COUNTRY_FLOWS, partition_by=("universe",),
                         constraints={"fund_count_positive": "fund_count > 0"})


def read_sources(spark: SparkSession, settings: Settings
                 ) -> tuple[dict[str, DataFrame], dict[str, int]]:
    """The silver tables at their current versions: ({name: DataFrame}, {name: version})."""
    frames, versions = {}, {}
    for name in SOURCES:
        path = settings.table_path(name)
        if not storage.table_exists(spark, path):
            raise InputError(f"silver table {name} not found at {path}: run `flowmosaic ingest` first")
        versions[name] = storage.current_version(spark, path)
        frames[name] = storage.read_table(spark, path, versions[name])
    return frames, versions


def window_for_alloc_month(month: dt.date, max_age_months: int = 0) -> tuple[dt.date, dt.date]:
    """Flow dates a (re)ingested allocation month can affect: where it is, or may be carried
    forward as, the applicable snapshot."""
    start, _ = cal.applicable_window(month)
    _, end = cal.applicable_window(cal.add_months(month, max_age_months))
    return start, end


def plan_batches(start: dt.date, end: dt.date, rows_per_month: dict[dt.date, int],
                 max_rows: int, max_age_months: int = 0) -> list[tuple[dt.date, dt.date]]:
    """Split [start, end] at allocation-month boundaries so each batch's weights stay small."""
    months, m = [], cal.alloc_month(start)
    while m <= cal.alloc_month(end):
        months.append(m)
        m = cal.add_months(m, 1)

    def rows(month):  # the weights a month needs, carried-forward snapshots included
        return sum(rows_per_month.get(cal.add_months(month, -a), 0)
                   for a in range(max_age_months + 1))

    batches, first, acc = [], months[0], 0
    for i, month in enumerate(months):
        acc += rows(month)
        last = i == len(months) - 1
        if last or acc + rows(months[i + 1]) > max_rows:
            lo = max(start, cal.applicable_window(first)[0])
            hi = min(end, cal.applicable_window(month)[1])
            batches.append((lo, hi))
            if not last:
                first, acc = months[i + 1], 0
    return batches


def batches_for(allocs: DataFrame, start: dt.date, end: dt.date, max_age_months: int = 0,
                max_rows: int = DEFAULT_BATCH_ALLOC_ROWS) -> list[tuple[dt.date, dt.date]]:
    """plan_batches with the allocation rows per month counted for the window's months only
    (a partition-pruned aggregation of fund_allocations)."""
    needed = allocs.filter(F.col("alloc_month").between(
        cal.add_months(cal.alloc_month(start), -max_age_months), cal.alloc_month(end)))
    rows_per_month = {r.alloc_month: r.n for r in
                      needed.groupBy("alloc_month").agg(F.count(F.lit(1)).alias("n")).collect()}
    return plan_batches(start, end, rows_per_month, max_rows, max_age_months)


def batch_frame(src: dict[str, DataFrame], universes, lo: dt.date, hi: dt.date,
                max_age_months: int = 0) -> DataFrame:
    """Country rows for flow dates lo..hi: the silver reads pruned to the window (flow_month
    partitions, allocation months it needs), then the transform chain."""
    m_lo = cal.add_months(cal.alloc_month(lo), -max_age_months)
    m_hi = cal.alloc_month(hi)
    flows = src["share_class_flows"].filter(
        F.col("flow_date").between(lo, hi)
        & F.col("flow_month").between(cal.month_start(lo), cal.month_start(hi)))
    allocs = src["fund_allocations"].filter(F.col("alloc_month").between(m_lo, m_hi))
    return fl.compute_country_flows(flows, src["share_classes"], src["funds"], allocs,
                                    universes, max_age_months)


def run(spark: SparkSession, settings: Settings, universe_names: str | list[str],
        start: dt.date | None = None, end: dt.date | None = None,
        alloc_month: dt.date | None = None, max_age_months: int = 0,
        universes_path: str | None = None,
        batch_alloc_rows: int = DEFAULT_BATCH_ALLOC_ROWS,
        progress: Callable[[str], None] = print) -> CountryFlowsRun:
    t0 = time.time()
    universes = select_universes(universe_names, universes_path)
    names = [u.name for u in universes]
    if max_age_months < 0:
        raise InputError("allocation_max_age_months must be 0 (off) or more")
    src, versions = read_sources(spark, settings)
    flows, allocs = src["share_class_flows"], src["fund_allocations"]

    if alloc_month is not None:
        start, end = window_for_alloc_month(cal.month_start(alloc_month), max_age_months)
    if start is None or end is None:
        lo, hi = flows.agg(F.min("flow_date"), F.max("flow_date")).first()
        if lo is None:
            raise InputError("share_class_flows is empty: nothing to aggregate")
        start, end = start or lo, end or hi
    if start > end:
        raise InputError(f"empty window: start {start} is after end {end}")

    result = CountryFlowsRun(names, start, end, versions, path=settings.table_path("country_flows"))
    result.batches = batches_for(allocs, start, end, max_age_months, batch_alloc_rows)
    ensure_country_flows_table(spark, result.path)
    in_list = ", ".join(f"'{n}'" for n in names)

    for i, (lo, hi) in enumerate(result.batches, 1):
        tb = time.time()
        out = batch_frame(src, universes, lo, hi, max_age_months)
        predicate = f"universe IN ({in_list}) AND flow_date >= '{lo}' AND flow_date <= '{hi}'"
        storage.overwrite_window(out, result.path, predicate, {
            "job": "country-flows", "universes": names, "window": [str(lo), str(hi)],
            "batch": f"{i}/{len(result.batches)}", "allocation_max_age_months": max_age_months,
            "source_versions": versions,
        })
        result.table_version, metrics = storage.last_commit(spark, result.path)
        result.rows_written += int(metrics.get("numOutputRows", 0))
        progress(f"  batch {i}/{len(result.batches)}: {lo} .. {hi} written in "
                 f"{time.time() - tb:.1f}s")

    result.seconds = time.time() - t0
    return result
