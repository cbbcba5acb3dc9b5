"""What the country aggregation reads from silver, at pinned versions: the universes' funds
(with their single-country fallback) and the point-in-time weights of the allocation months
a window needs (docs/methodology.md, "3. Point-in-time allocations (the 23rd rule)" and
"6. Single-country funds").
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import Countries, Settings
from flowmosaic.country_flows.matrix import Plan, UniversePlan, Weights
from flowmosaic.errors import InputError
from flowmosaic.tables import INVESTOR_TYPES
from flowmosaic.universes import Universe

SOURCES = ("fund_days", "funds", "fund_allocations")
EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass
class Silver:
    frames: dict[str, DataFrame]
    versions: dict[str, int]
    paths: dict[str, str] = field(default_factory=dict)

    def at(self, *names: str) -> tuple:
        """The tables `names` as (path, version, commit time) triples: a key for what is
        computed from them. A table whose commit time is unknown (not local, or read without
        its path) gets a key that matches nothing: what is computed from it is never reused."""

        def one(n: str) -> tuple:
            stamp = (
                storage.commit_stamp(self.paths[n], self.versions[n]) if n in self.paths else None
            )
            return (self.paths[n], self.versions[n], stamp) if stamp else (object(), n)

        return tuple(one(n) for n in names)


# What a run computes from small silver tables (the universes' members, the destinations of a
# window, the span of the data), by the table versions it was read at: a Delta version never
# changes, so a warm session's next run over the same versions reuses it instead of running
# its small Spark jobs again. A few entries per warehouse; the oldest go first.
_MEMO: OrderedDict[tuple, Any] = OrderedDict()
MEMO_ENTRIES = 64


def memo(key: tuple, compute: Callable[[], Any]) -> Any:
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    value = compute()
    _MEMO[key] = value
    while len(_MEMO) > MEMO_ENTRIES:
        _MEMO.popitem(last=False)
    return value


def read_silver(
    spark: SparkSession, settings: Settings, names: tuple[str, ...] = SOURCES
) -> Silver:
    """The silver tables `names` at their current versions (recorded in every commit)."""
    frames, versions, paths = {}, {}, {}
    for name in names:
        path = paths[name] = settings.table_path(name)
        if not storage.exists(spark, path):
            raise InputError(
                f"silver table {name} not found at {path}: run `flowmosaic ingest` first"
            )
        versions[name] = storage.current_version(spark, path)
        frames[name] = storage.read(spark, path, versions[name])
    return Silver(frames, versions, paths)


def key_frame(spark: SparkSession, keys) -> DataFrame:
    """fund keys as a broadcast one-column frame to semi-join with. (Column.isin over
    thousands of keys costs a JVM call per key and a huge expression to plan: 10 s for 20,000
    keys, measured in docs/benchmarks.md.)"""
    pdf = pd.DataFrame({"fund_key": np.asarray(sorted(keys), dtype=np.int32)})
    return F.broadcast(spark.createDataFrame(pdf, "fund_key int"))


def destinations_in(
    silver: Silver, countries: Countries, start: dt.date, end: dt.date, max_age_months: int
) -> tuple[str, ...]:
    """The countries the window computes: the published 52, and every other destination a
    fund allocates to in the snapshots month_weights reads for the window or that a
    single-country fund is focused on; published order first, then the others
    alphabetically."""
    lo, hi = snapshot_span(alloc_months(start, end), max_age_months)
    key = ("destinations", silver.at("fund_allocations", "funds"), lo, hi, countries.destinations)
    return memo(key, lambda: _destinations_in(silver, countries, lo, hi))


def _destinations_in(
    silver: Silver, countries: Countries, lo: dt.date, hi: dt.date
) -> tuple[str, ...]:
    allocated = (
        silver.frames["fund_allocations"]
        .where(F.col("alloc_month").between(lo, hi))
        .select("country")
    )
    focused = (
        silver.frames["funds"]
        .where(F.col("cross_border") == F.lit(False))
        .select(F.upper(F.col("geographic_focus")).alias("country"))
    )
    found = {r[0] for r in allocated.union(focused).distinct().collect() if r[0]}
    known = set(countries.destinations)
    return countries.ordered({*countries.published_order, *(found & known)})


def members(
    spark: SparkSession, silver: Silver, universes: list[Universe], countries: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    """Per universe: fund_key, domicile, and `single` = the index of the fund's country when it
    is a single-country fund that never reported an allocation (-1 otherwise)."""
    key = (
        "members",
        silver.at("funds", "fund_allocations"),
        tuple(repr(u) for u in universes),
        countries,
    )
    return memo(key, lambda: _members(spark, silver, universes, countries))


def _members(
    spark: SparkSession, silver: Silver, universes: list[Universe], countries: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    funds = silver.frames["funds"]
    sel = funds.select(
        "fund_key",
        "domicile",
        "cross_border",
        "geographic_focus",
        *[u.fund_filter().alias(f"_u{i}") for i, u in enumerate(universes)],
    )
    pdf: pd.DataFrame = sel.toPandas()
    focus = pdf["geographic_focus"].fillna("").str.upper()
    candidate = (pdf["cross_border"] == False) & focus.isin(countries)  # noqa: E712
    reported: set[int] = set()
    if candidate.any():
        keys = [int(k) for k in pdf.loc[candidate, "fund_key"]]
        reported = {
            int(r[0])
            for r in silver.frames["fund_allocations"]
            .join(key_frame(spark, keys), "fund_key", "left_semi")
            .select("fund_key")
            .distinct()
            .collect()
        }
    index = {c: i for i, c in enumerate(countries)}
    single = np.where(
        candidate & ~pdf["fund_key"].isin(reported), focus.map(index).fillna(-1), -1
    ).astype(np.int64)
    base = pd.DataFrame(
        {
            "fund_key": pdf["fund_key"].astype(np.int64),
            "domicile": pdf["domicile"].fillna("").astype(str),
            "single": single,
        }
    )
    return {
        u.name: base[pdf[f"_u{i}"].fillna(False).to_numpy(bool)]
        .sort_values("fund_key")
        .reset_index(drop=True)
        for i, u in enumerate(universes)
    }


def snapshot_span(months: list[dt.date], max_age_months: int) -> tuple[dt.date, dt.date]:
    """The first and last allocation month whose snapshots serve `months`: a month's own, or
    with carry-forward one up to max_age_months older."""
    return cal.add_months(min(months), -max_age_months), max(months)


def month_weight_rows(
    silver: Silver, months: list[dt.date], countries: tuple[str, ...], max_age_months: int = 0
) -> DataFrame:
    """The weights serving each allocation month of `months`, as a relation of the plan (they
    never pass through the driver): m (the month's first day, days since 1970-01-01),
    fund_key, c (index in `countries`), w (allocation_pct / 100, positive only). With
    max_age_months N > 0, a fund without a snapshot for a month takes its youngest snapshot up
    to N months older."""
    lo, hi = snapshot_span(months, max_age_months)
    # one SQL text instead of a Column per country (a py4j call each, ~190 of them)
    listed = ", ".join(storage.sql_string(c) for c in countries)
    snaps = (
        silver.frames["fund_allocations"]
        .where(F.col("alloc_month").between(lo, hi) & (F.col("allocation_pct") > 0))
        .select(
            "alloc_month",
            "fund_key",
            F.expr(f"CAST(array_position(array({listed}), country) - 1 AS INT)").alias("c"),
            (F.col("allocation_pct") / 100.0).alias("w"),
        )
        .where(F.col("c") >= 0)
    )
    if max_age_months == 0:
        return snaps.select(F.unix_date("alloc_month").alias("m"), "fund_key", "c", "w")
    # each snapshot offered to the months it may serve, the youngest kept per (month, fund)
    offered = snaps.select(
        "*", F.explode(F.sequence(F.lit(0), F.lit(max_age_months))).alias("age")
    ).select(F.add_months("alloc_month", F.col("age")).alias("target"), "fund_key", "c", "w", "age")
    offered = offered.where(F.col("target").between(min(months), max(months)))
    youngest = F.min("age").over(Window.partitionBy("target", "fund_key"))
    return (
        offered.withColumn("youngest", youngest)
        .where(F.col("age") == F.col("youngest"))
        .select(F.unix_date("target").alias("m"), "fund_key", "c", "w")
    )


def single_weights(mem: dict[str, pd.DataFrame]) -> Weights:
    """Weight 1 in its country, every month, for each single-country fund without snapshots."""
    allm = pd.concat(mem.values()).drop_duplicates("fund_key") if mem else pd.DataFrame()
    if allm.empty:
        return Weights.empty()
    s = allm[allm["single"] >= 0]
    return Weights(
        s["fund_key"].to_numpy(np.int64), s["single"].to_numpy(np.int64), np.ones(len(s))
    )


def plan(
    universes: list[Universe],
    mem: dict[str, pd.DataFrame],
    countries: tuple[str, ...],
    investor_grain: bool = False,
) -> Plan:
    """What the kernel's tasks carry: the universes' member funds, the country list and the
    single-country funds' weights; no month's weights (each task gets its month's from the
    plan's weights relation)."""
    index = {c: i for i, c in enumerate(countries)}
    ups = []
    for u in universes:
        m = mem[u.name]
        types = tuple(u.investor_type) if u.investor_type else INVESTOR_TYPES
        ups.append(
            UniversePlan(
                u.name,
                m["fund_key"].to_numpy(np.int64),
                m["domicile"].to_numpy(object),
                m["domicile"].map(index).fillna(-1).to_numpy(np.int64),
                types,
                u.ex_domestic,
            )
        )
    return Plan(tuple(countries), ups, {}, single_weights(mem), investor_grain)


def alloc_months(lo: dt.date, hi: dt.date) -> list[dt.date]:
    """The allocation months whose snapshots serve the flow dates lo..hi."""
    out, m = [], cal.alloc_month(lo)
    while m <= cal.alloc_month(hi):
        out.append(m)
        m = cal.add_months(m, 1)
    return out
