"""Fund -> country as Spark transforms: the join engine (docs/methodology.md, "3. Point-in-time
allocations (the 23rd rule)" and "5. Country aggregation"). Pure DataFrame -> DataFrame
functions; job.py reads and writes. The point-in-time rule is an equi-join on (fund_key,
alloc_month): no range join, no window over the flow rows.
"""

from __future__ import annotations

from functools import reduce

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic.spark.calendar import alloc_month
from flowmosaic.tables import FUND_DAY_MEASURES, INVESTOR_TYPES, fund_day_column
from flowmosaic.universes import Universe

MEASURES = FUND_DAY_MEASURES


def members_frame(
    spark: SparkSession, mem: dict[str, pd.DataFrame], universes: list[Universe]
) -> DataFrame:
    """(universe, fund_key, domicile, single, ex_domestic): the universes' funds; `single` is
    the country of a single-country fund without snapshots (NULL otherwise)."""
    parts = []
    for u in universes:
        m = mem[u.name]
        parts.append(
            pd.DataFrame(
                {
                    "universe": u.name,
                    "fund_key": m["fund_key"].astype("int32"),
                    "domicile": m["domicile"],
                    "single": m["single"],
                    "ex_domestic": u.ex_domestic,
                }
            )
        )
    pdf = pd.concat(parts, ignore_index=True)
    schema = "universe string, fund_key int, domicile string, single int, ex_domestic boolean"
    df = spark.createDataFrame(pdf, schema) if len(pdf) else spark.createDataFrame([], schema)
    return df.withColumn("single", F.when(F.col("single") >= 0, F.col("single")))


def _types(u: Universe) -> tuple[str, ...]:
    return tuple(u.investor_type) if u.investor_type else INVESTOR_TYPES


def _by_universe(universes: list[Universe], value) -> Column:
    """CASE universe WHEN u THEN value(u) ... END."""
    expr: Column | None = None
    for u in universes:
        v = value(u)
        expr = (
            F.when(F.col("universe") == u.name, v)
            if expr is None
            else expr.when(F.col("universe") == u.name, v)
        )
    return F.lit(None) if expr is None else expr  # no universes: a CASE without branches


def universe_fund_days(
    days: DataFrame, members: DataFrame, universes: list[Universe], investor_grain: bool = False
) -> DataFrame:
    """Each universe's fund-days with its investor-type selection summed (or, at the investor
    grain, one row per selected type): only fund-days where a selected share class reported,
    so a fund without share classes of the selected types never counts."""
    joined = days.join(F.broadcast(members), "fund_key")
    keep = ["universe", "fund_key", "domicile", "single", "ex_domestic", "flow_date"]
    if investor_grain:
        stacked = [
            joined.select(
                *keep,
                F.lit(t).alias("investor_type"),
                *[F.col(fund_day_column(m, t)).alias(m) for m in MEASURES],
            ).where(
                F.col("flow").isNotNull()
                & _by_universe(universes, lambda u, t=t: F.lit(t in _types(u)))
            )
            for t in INVESTOR_TYPES
        ]
        out = reduce(DataFrame.unionByName, stacked).fillna(0.0, subset=list(MEASURES))
    else:

        def total(m):
            return _by_universe(
                universes,
                lambda u: reduce(
                    lambda a, b: a + b,
                    [F.coalesce(F.col(fund_day_column(m, t)), F.lit(0.0)) for t in _types(u)],
                ),
            )

        present = _by_universe(
            universes,
            lambda u: reduce(
                lambda a, b: a | b,
                [F.col(fund_day_column("flow", t)).isNotNull() for t in _types(u)],
            ),
        )
        out = joined.where(present).select(*keep, *[total(m).alias(m) for m in MEASURES])
    return out.withColumn("alloc_month", alloc_month(F.col("flow_date")))


def weights(allocations: DataFrame, max_age_months: int = 0) -> DataFrame:
    """(fund_key, alloc_month, country, weight) with weight = allocation_pct / 100 > 0.
    max_age_months = 0 (the reference): a month's snapshot serves only that month; with N > 0,
    a fund's latest snapshot no older than N months serves months that have none."""
    alloc = allocations.where(F.col("allocation_pct") > 0)
    if max_age_months > 0:
        snap = alloc.select("fund_key", F.col("alloc_month").alias("snapshot_month")).distinct()
        targets = snap.withColumn("age", F.explode(F.sequence(F.lit(0), F.lit(max_age_months))))
        targets = targets.withColumn("alloc_month", F.add_months("snapshot_month", F.col("age")))
        best = targets.groupBy("fund_key", "alloc_month").agg(F.min("age").alias("age"))
        best = best.withColumn("snapshot_month", F.add_months("alloc_month", -F.col("age")))
        alloc = best.join(
            alloc.withColumnRenamed("alloc_month", "snapshot_month"), ["fund_key", "snapshot_month"]
        ).select("fund_key", "alloc_month", "country", "allocation_pct")
    return alloc.select(
        "fund_key", "alloc_month", "country", (F.col("allocation_pct") / 100.0).alias("weight")
    )


def aggregate(
    udays: DataFrame,
    w: DataFrame,
    countries: tuple[str, ...],
    investor_grain: bool = False,
    extra: tuple[Column, ...] = (),
) -> DataFrame:
    """Per (universe, flow_date[, investor domicile, type], country): the weighted sums and
    the count of funds contributing (and the `extra` aggregates). Snapshot weights join on
    (fund_key, alloc_month); a single-country fund without snapshots counts 1.0 in its
    country."""
    snap = udays.where(F.col("single").isNull()).join(F.broadcast(w), ["fund_key", "alloc_month"])
    code = F.array(*[F.lit(c) for c in countries])
    one = udays.where(F.col("single").isNotNull()).withColumns(
        {"country": F.element_at(code, F.col("single") + 1), "weight": F.lit(1.0)}
    )
    cols = [c for c in snap.columns]
    joined = snap.unionByName(one.select(*cols))
    domestic = F.coalesce(
        F.col("ex_domestic") & (F.col("country") == F.col("domicile")), F.lit(False)
    )
    keys = ["universe", "flow_date"] + (["domicile", "investor_type"] if investor_grain else [])
    out = (
        joined.where(~domestic & (F.col("weight") > 0))
        .groupBy(*keys, "country")
        .agg(
            *[F.sum(F.col(m) * F.col("weight")).alias(f"{m}_usd") for m in MEASURES],
            F.count(F.lit(1)).alias("fund_count"),
            *extra,
        )
    )
    return out.withColumnRenamed("domicile", "investor_domicile") if investor_grain else out


def country_rows(
    spark: SparkSession,
    days: DataFrame,
    mem: dict[str, pd.DataFrame],
    universes: list[Universe],
    allocations: DataFrame,
    countries: tuple[str, ...],
    max_age_months: int = 0,
    grain: str = "country",
) -> DataFrame:
    """The whole chain: fund-days of a window to country (or investor-grain) rows."""
    members = members_frame(spark, mem, universes)
    udays = universe_fund_days(days, members, universes, grain == "investor")
    return aggregate(udays, weights(allocations, max_age_months), countries, grain == "investor")
