"""Share class -> fund -> country: the transforms of methodology.md sections 3 and 4.

Pure DataFrame -> DataFrame functions: no reading, writing or session here (country_flows.py
does that). The point-in-time rule is the same as calendar.alloc_month, written as a Column so
the allocation join is an equi-join on (fund_id, alloc_month): no range join, no window over
the flow table.
"""
from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flowmosaic.calendar import RELEASE_DAY
from flowmosaic.universes import INVESTOR_TYPES, Universe

MEASURES = ("flow", "assets_start", "portfolio_change")
ALL = "all"


def alloc_month_col(flow_date: Column) -> Column:
    """First day of the allocation month public on flow_date (the 23rd rule)."""
    back = F.when(F.dayofmonth(flow_date) >= RELEASE_DAY, F.lit(-1)).otherwise(F.lit(-2))
    return F.add_months(F.trunc(flow_date, "month"), back)


def _bucket(measure: str, investor_type: str) -> str:
    return f"{measure}__{investor_type.lower()}"


def fund_days(flows: DataFrame, share_classes: DataFrame | None = None) -> DataFrame:
    """Share-class rows summed to (fund_id, flow_date), in ONE aggregation.

    Columns: fund_id, flow_date, alloc_month, then for each measure its total over all share
    classes (`flow__all`, ...) and, when share_classes is given, one column per investor type
    (`flow__institutional`, ...), so that every universe's share-class filter can be served from
    the same aggregate.
    """
    aggs = [F.sum(m).alias(_bucket(m, ALL)) for m in MEASURES]
    if share_classes is not None:
        types = F.broadcast(share_classes.select("share_id", "investor_type"))
        flows = flows.join(types, "share_id", "left")
        for t in INVESTOR_TYPES:
            is_t = F.col("investor_type") == F.lit(t)
            aggs += [F.sum(F.when(is_t, F.col(m)).otherwise(F.lit(0.0))).alias(_bucket(m, t))
                     for m in MEASURES]
    return (flows.groupBy("fund_id", "flow_date").agg(*aggs)
                 .withColumn("alloc_month", alloc_month_col(F.col("flow_date"))))


def needs_investor_types(universes: list[Universe]) -> bool:
    return any(u.investor_type is not None for u in universes)


def universe_members(funds: DataFrame, universes: list[Universe]) -> DataFrame:
    """(universe, fund_id, domicile, ex_domestic) for every fund of every universe: small."""
    parts = [funds.filter(u.fund_filter())
                  .select(F.lit(u.name).alias("universe"), "fund_id", "domicile",
                          F.lit(u.ex_domestic).alias("ex_domestic"))
             for u in universes]
    return reduce(DataFrame.unionByName, parts)


def _measure_for(universes: list[Universe], measure: str) -> Column:
    """The universe's share-class selection of a measure, as a CASE over universe names."""
    expr = None
    for u in universes:
        if u.investor_type is None:
            value = F.col(_bucket(measure, ALL))
        else:
            value = reduce(lambda a, b: a + b, [F.col(_bucket(measure, t)) for t in u.investor_type])
        expr = (F.when(F.col("universe") == u.name, value) if expr is None
                else expr.when(F.col("universe") == u.name, value))
    return expr


def universe_fund_days(fund_day: DataFrame, members: DataFrame,
                       universes: list[Universe]) -> DataFrame:
    """Fund-days of each universe's funds with that universe's share-class selection."""
    joined = fund_day.join(F.broadcast(members), "fund_id")
    return joined.select("universe", "fund_id", "domicile", "ex_domestic", "flow_date",
                         "alloc_month",
                         *[_measure_for(universes, m).alias(m) for m in MEASURES])


def applicable_allocations(allocations: DataFrame, max_age_months: int = 0) -> DataFrame:
    """(fund_id, alloc_month, country, weight) with weight = allocation_pct / 100.

    max_age_months = 0 (the reference): a month's snapshot serves only that month. With N > 0, a
    fund's latest snapshot no older than N months serves months that have none of their own.
    Zero allocations are dropped: they add nothing to either sum and would inflate fund_count.
    """
    alloc = allocations.filter(F.col("allocation_pct") > 0)
    if max_age_months > 0:
        snap = alloc.select("fund_id", F.col("alloc_month").alias("snapshot_month")).distinct()
        targets = snap.withColumn("age", F.explode(F.sequence(F.lit(0), F.lit(max_age_months))))
        targets = targets.withColumn("alloc_month", F.add_months("snapshot_month", F.col("age")))
        # for each (fund, target month) the youngest snapshot wins
        best = targets.groupBy("fund_id", "alloc_month").agg(F.min("age").alias("age"))
        best = best.withColumn("snapshot_month", F.add_months("alloc_month", -F.col("age")))
        alloc = (best.join(alloc.withColumnRenamed("alloc_month", "snapshot_month"),
                           ["fund_id", "snapshot_month"])
                     .select("fund_id", "alloc_month", "country", "allocation_pct"))
    return alloc.select("fund_id", "alloc_month", "country",
                        (F.col("allocation_pct") / 100.0).alias("weight"))


def country_flows(universe_days: DataFrame, weights: DataFrame,
                  broadcast_weights: bool = True) -> DataFrame:
    """Per (universe, flow_date, country): the weighted sums, flow_pct and pseudo-return.

    Inner equi-join on (fund_id, alloc_month): funds without an applicable snapshot do not count.
    """
    w = F.broadcast(weights) if broadcast_weights else weights
    joined = universe_days.join(w, ["fund_id", "alloc_month"])
    domestic = F.coalesce(F.col("ex_domestic") & (F.col("country") == F.col("domicile")),
                          F.lit(False))
    joined = joined.filter(~domestic)
    agg = joined.groupBy("universe", "flow_date", "country").agg(
        F.sum(F.col("flow") * F.col("weight")).alias("flow_usd"),
        F.sum(F.col("assets_start") * F.col("weight")).alias("assets_start_usd"),
        F.sum(F.col("portfolio_change") * F.col("weight")).alias("portfolio_change_usd"),
        F.count(F.lit(1)).alias("fund_count"),
    )
    # try_divide: NULL, not an ANSI error, where a country's assets sum to 0
    return agg.select(
        "universe", "flow_date", "country", "flow_usd", "assets_start_usd",
        F.try_divide(F.col("flow_usd") * 100.0, F.col("assets_start_usd")).alias("flow_pct"),
        "portfolio_change_usd",
        F.try_divide(F.col("portfolio_change_usd") * 100.0,
                     F.col("assets_start_usd")).alias("pseudo_return_pct"),
        "fund_count",
    )


def compute_country_flows(flows: DataFrame, share_classes: DataFrame, funds: DataFrame,
                          allocations: DataFrame, universes: list[Universe],
                          max_age_months: int = 0, broadcast_weights: bool = True) -> DataFrame:
    """The whole chain, share-class rows to country rows, for several universes at once."""
    sc = share_classes if needs_investor_types(universes) else None
    members = universe_members(funds, universes)
    # drop funds outside every universe before the aggregation's shuffle (broadcast semi-join)
    flows = flows.join(F.broadcast(members.select("fund_id")), "fund_id", "left_semi")
    days = fund_days(flows, sc)
    udays = universe_fund_days(days, members, universes)
    weights = applicable_allocations(allocations, max_age_months)
    return country_flows(udays, weights, broadcast_weights)
