"""The signals job: silver share-class flows, share classes, funds and allocations -> gold
`country_signals` for declarative universes over a window of dates (docs/signals.md).

Like the country-flows job: the silver tables are read at pinned versions, recorded with the
job's parameters in the commit's userMetadata; one commit replaces exactly (universes x
signals x the window's dates) with replaceWhere, so a rerun of a window is idempotent; the
table is partitioned by (universe, month of date). The driver holds the plan only (the
universes' filters and the country list): the funds' rows meet the weights inside Spark.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import Settings, load_countries
from flowmosaic.country_flows.sources import read_silver
from flowmosaic.errors import InputError
from flowmosaic.signals import transforms as T
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import INVESTOR_TYPES, table
from flowmosaic.universes import Universe, select_universes

SILVER = ("share_class_flows", "share_classes", "funds", "fund_allocations")
TARGET = "country_signals"


@dataclass
class SignalsRun:
    universes: list[str]
    signals: list[str]
    start: dt.date
    end: dt.date
    source_versions: dict[str, int]
    rows_written: int = 0
    table_version: int | None = None
    seconds: float = 0.0
    spark_jobs: int | None = None
    path: str = ""

    def describe(self) -> str:
        return "\n".join(
            [
                f"{TARGET}: {', '.join(self.universes)}",
                f"  signals       {', '.join(self.signals)}",
                f"  window        {self.start} .. {self.end}",
                f"  rows written  {self.rows_written:,}",
                f"  table         {self.path} (version {self.table_version})",
                "  read silver   " + ", ".join(f"{k}@{v}" for k, v in self.source_versions.items()),
                f"  seconds       {self.seconds:.1f}"
                + (f"; {self.spark_jobs} Spark jobs" if self.spark_jobs is not None else ""),
            ]
        )


def pick_signals(spec: str | Sequence[str] | None) -> list[str]:
    """'AllocMo,FloTrend' or a list -> the signals in their documented order; None: all."""
    if not spec:
        return list(T.SIGNALS)
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(T.SIGNALS))
    if unknown:
        raise InputError(f"unknown signal(s) {unknown}: choose from {', '.join(T.SIGNALS)}")
    return [s for s in T.SIGNALS if s in wanted]


def universe_inputs(
    silver, u: Universe, lo: dt.date, hi: dt.date, destinations: tuple[str, ...]
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(fund_flows, weights, focus) of universe u for flow dates lo..hi and the snapshots
    they use (docs/signals.md). A share class's investor type outside INVESTOR_TYPES counts as
    Other; a missing AssetsEnd is the day's start plus flow and portfolio change; the peer
    group is the focus trimmed and upper-cased. Ex-domestic universes leave out a fund's
    allocation to its own domicile. Single-country funds without snapshots have no weights
    here (country flows gives them 100 % in their country): they are in no signal."""
    funds = silver.frames["funds"].where(u.fund_filter())
    members = F.broadcast(
        funds.select(
            "fund_key", "domicile", F.upper(F.trim(F.col("geographic_focus"))).alias("focus")
        )
    )
    itype = F.when(F.col("investor_type").isin(*INVESTOR_TYPES), F.col("investor_type"))
    classes = silver.frames["share_classes"].select(
        "share_key", F.coalesce(itype, F.lit("Other")).alias("_type")
    )
    if u.investor_type:  # no filter: every share class, those of type Other too
        classes = classes.where(F.col("_type").isin(*u.investor_type))
    rows = silver.frames["share_class_flows"].where(
        F.col("flow_date").between(lo, hi)
        & F.col("flow_month").between(cal.month_start(lo), cal.month_start(hi))
    )
    end = F.coalesce(
        F.col("assets_end"),
        F.col("assets_start") + F.col("flow") + F.coalesce(F.col("portfolio_change"), F.lit(0.0)),
    )
    fund_flows = (
        rows.join(F.broadcast(classes), "share_key", "left_semi")
        .join(members.select("fund_key"), "fund_key", "left_semi")
        .groupBy("flow_date", "fund_key")
        .agg(
            F.sum("flow").alias("flow"),
            F.sum("assets_start").alias("assets_start"),
            F.sum(end).alias("assets_end"),
        )
    )
    m_lo, m_hi = cal.add_months(cal.alloc_month(lo), -1), cal.month_start(hi)
    alloc = (
        silver.frames["fund_allocations"]
        .where(F.col("alloc_month").between(m_lo, m_hi))
        .join(members.select("fund_key", "domicile"), "fund_key")
        .where(F.col("country").isin(*destinations))
    )
    if u.ex_domestic:
        alloc = alloc.where(~F.coalesce(F.col("country") == F.col("domicile"), F.lit(False)))
    weights = alloc.select(
        "alloc_month", "fund_key", "country", (F.col("allocation_pct") / 100.0).alias("w")
    )
    return fund_flows, weights, members.select("fund_key", "focus")


def signal_rows(
    silver, u: Universe, signals: list[str], start: dt.date, end: dt.date, countries
) -> DataFrame:
    """The universe's rows of `signals` dated start..end. Daily signals need the flows of the
    window and of the month whose month-end assets weigh the first day's peers; monthly
    signals of month m (dated the 23rd of m+1) need m's flows and the snapshots of m, m-1."""
    # one read serves both: the months whose signals are published in the window lie inside
    # the daily signals' range (from s of the first day to the window's end); `signals` is
    # never empty (pick_signals)
    flows, weights, focus = universe_inputs(silver, u, cal.alloc_month(start), end, countries)
    parts = []
    if any(s in T.DAILY for s in signals):
        parts.append(T.daily_signals(flows, weights, focus))
    if any(s in T.MONTHLY for s in signals):
        parts.append(T.monthly_signals(flows, weights, focus))
    rows = reduce(DataFrame.unionByName, parts).where(
        F.col("signal").isin(*signals) & F.col("date").between(start, end)
    )
    return rows.select(F.lit(u.name).alias("universe"), *T.LONG_COLUMNS)


def run(
    spark: SparkSession,
    settings: Settings,
    universe_names: str | list[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    signals: str | Sequence[str] | None = None,
    universes_path: str | None = None,
    progress: Callable[[str], None] = print,
) -> SignalsRun:
    t0 = time.time()
    chosen = pick_signals(signals)
    universes = select_universes(universe_names, universes_path)
    names = [u.name for u in universes]
    with JobCounter(spark, f"{TARGET}-{int(t0)}") as jobs:
        silver = read_silver(spark, settings, SILVER)
        if start is None or end is None:
            span = (
                silver.frames["share_class_flows"]
                .agg(F.min("flow_date"), F.max("flow_date"))
                .first()
            )
            assert span is not None  # a global aggregate has one row
            if span[0] is None:
                raise InputError(
                    "share_class_flows is empty: nothing to compute (run `flowmosaic ingest` "
                    "with flows first)"
                )
            start, end = start or span[0], end or span[1]
        if start > end:
            raise InputError(f"empty window: start {start} is after end {end}")
        result = SignalsRun(
            names, chosen, start, end, silver.versions, path=settings.table_path(TARGET)
        )
        countries = load_countries().destinations
        rows = reduce(
            DataFrame.unionByName,
            [signal_rows(silver, u, chosen, start, end, countries) for u in universes],
        )
        out = rows.select(*[F.col(f.name).cast(f.dataType) for f in table(TARGET).schema.fields])
        path = storage.ensure(spark, settings, TARGET)
        listed = lambda xs: ", ".join(storage.sql_string(x) for x in xs)  # noqa: E731
        predicate = storage.date_window_predicate(
            start,
            end,
            "date",
            "date_month",
            f"universe IN ({listed(names)}) AND signal IN ({listed(chosen)})",
        )
        progress(f"{TARGET}: {', '.join(names)} {start}..{end}, {len(chosen)} signal(s)")
        storage.replace_where(
            out.repartition("universe", F.trunc("date", "MM")).sortWithinPartitions(
                "universe", "date", "signal", "country"
            ),
            path,
            predicate,
            {
                "job": "signals",
                "universes": names,
                "signals": chosen,
                "window": [str(start), str(end)],
                "source_versions": silver.versions,
            },
        )
        w = storage.Written.from_commit(storage.commit_info(spark, path))
        result.table_version, result.rows_written = w.version, w.written
    result.spark_jobs = jobs.jobs
    result.seconds = time.time() - t0
    return result
