"""The signals as pure DataFrame -> DataFrame functions (docs/signals.md has every definition
and the worked example the tests reproduce). Inputs are already cut to a universe's funds and
investor types:

- fund_flows: flow_date, fund_key, flow, assets_start, assets_end (the fund's day, US$)
- weights:    alloc_month, fund_key, country, w (the snapshot's allocation as a fraction;
              silver keeps only allocations above 0)
- focus:      fund_key, focus (the fund's geographic focus: its peer group)

Outputs are long: one row per (date, country, signal) with the numerator and denominator kept
beside the value, so that a look-back can pool them. Every ratio's value is NULL where its
denominator is zero, negative or empty. Nothing is collected: the functions only add to the plan.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# the names and frequencies are in names.py (no Spark there: the backtest reads them)
from flowmosaic.signals.names import (  # noqa: F401 (re-exported)
    COMPLEMENT,
    COUNTS,
    DAILY,
    MONTHLY,
    RELEASE_DAY,
    SIGNALS,
)
from flowmosaic.spark.calendar import alloc_month

# A difference of weights (fractions) has sign 0 when it rounds to 0 at 1e-6 percentage
# points (the reference rounds P - w so before its sign): |x| < 0.5e-6 points = 5e-9.
SIGN_EPSILON = 5e-9
LONG_COLUMNS = ("date", "country", "signal", "value", "numerator", "denominator")


def sgn(x: Column) -> Column:
    """-1, 0 or +1, with |x| < SIGN_EPSILON counted as 0."""
    return F.when(F.abs(x) < SIGN_EPSILON, F.lit(0.0)).otherwise(F.signum(x))


def month_assets(fund_flows: DataFrame) -> DataFrame:
    """Per (month, fund): S = assets_start on the fund's first flow date of the month, E =
    assets_end on its last (the month-end assets A of the peer averages)."""
    return fund_flows.groupBy(F.trunc("flow_date", "MM").alias("m"), F.col("fund_key")).agg(
        F.min_by("assets_start", "flow_date").alias("S"),
        F.max_by("assets_end", "flow_date").alias("E"),
    )


def weight_changes(weights: DataFrame) -> DataFrame:
    """(m, fund_key, country, wn, wo, dw): the snapshot of m against the one of m-1, for the
    (fund, country) pairs present in both (an inner join: a pair in one snapshot only is left
    out, not taken as 0)."""
    new = weights.select(
        F.col("alloc_month").alias("m"), "fund_key", "country", F.col("w").alias("wn")
    )
    old = weights.select(
        F.add_months("alloc_month", 1).alias("m"), "fund_key", "country", F.col("w").alias("wo")
    )
    return new.join(old, ["m", "fund_key", "country"]).withColumn("dw", F.col("wn") - F.col("wo"))


def peer_weights(holders: DataFrame, keys: list[str]) -> DataFrame:
    """P per (keys..., focus, country): the assets-weighted average weight of the holders
    (rows with w > 0 and assets A); `holders` has keys, focus, country, w, A."""
    held = holders.where((F.col("w") > 0) & F.col("A").isNotNull())
    return held.groupBy(*keys, "focus", "country").agg(
        F.try_divide(F.sum(F.col("A") * F.col("w")), F.sum("A")).alias("P")
    )


def _long(wide: DataFrame, keys: list[str], signals: tuple[str, ...]) -> DataFrame:
    """wide (keys, <signal>_n, <signal>_d per signal) -> one row per signal with its value."""
    pairs = ", ".join(f"'{s}', `{s}_n`, `{s}_d`" for s in signals)
    rows = wide.select(
        *keys, F.expr(f"stack({len(signals)}, {pairs}) AS (signal, numerator, denominator)")
    )
    n, d = F.col("numerator"), F.col("denominator")
    ratio = F.when(d > 0, n / d)
    value = (
        F.when(F.col("signal").isin(*COUNTS), n)
        .when(F.col("signal").isin(*COMPLEMENT), 1.0 - ratio)
        .otherwise(ratio)
    )
    # a signal without any fund for the key (its family's side of the outer join is empty)
    # has no row, rather than a row of NULLs
    kept = rows.where(n.isNotNull() | d.isNotNull())
    return kept.withColumn("value", value)


def daily_signals(fund_flows: DataFrame, weights: DataFrame, focus: DataFrame) -> DataFrame:
    """FloTrend, FloDiff, FloDiff2 and ActWtTrend, ActWtDiff, ActWtDiff2 per (flow date,
    country). A flow date d uses s, the month its snapshot is public on (the 23rd rule), and
    s-1 for the change of weights; the active weight a = w(s) - P, P the month-end
    assets-weighted average weight in s of the funds of the same focus that hold the country
    and report a flow on d."""
    days = fund_flows.select(
        "flow_date",
        "fund_key",
        F.col("flow").alias("f"),
        alloc_month(F.col("flow_date")).alias("m"),
    )
    f = F.col("f")
    changes = days.join(weight_changes(weights), ["m", "fund_key"])
    dw = F.col("dw")
    flow_side = changes.groupBy("flow_date", "country").agg(
        F.sum(f * dw).alias("FloTrend_n"),
        F.sum(F.abs(f * dw)).alias("FloTrend_d"),
        F.sum(f * sgn(dw)).alias("FloDiff_n"),
        F.sum(F.abs(f)).alias("FloDiff_d"),
        F.sum(dw * sgn(f)).alias("FloDiff2_n"),
        F.sum(F.abs(dw)).alias("FloDiff2_d"),
    )
    assets = month_assets(fund_flows).select("m", "fund_key", F.col("E").alias("A"))
    held = (
        days.join(
            weights.select(F.col("alloc_month").alias("m"), "fund_key", "country", "w"),
            ["m", "fund_key"],
        )
        .join(focus, "fund_key", "left")
        .join(assets, ["m", "fund_key"], "left")
    )
    peers = peer_weights(held, ["flow_date"])
    active = held.join(peers, ["flow_date", "focus", "country"], "left").where(
        F.col("P").isNotNull()  # nobody of the focus holds the country that day: no a
    )
    a = F.col("w") - F.col("P")
    weight_side = active.groupBy("flow_date", "country").agg(
        F.sum(f * a).alias("ActWtTrend_n"),
        F.sum(F.abs(f * a)).alias("ActWtTrend_d"),
        F.sum(f * sgn(a)).alias("ActWtDiff_n"),
        F.sum(F.abs(f)).alias("ActWtDiff_d"),
        F.sum(a * sgn(f)).alias("ActWtDiff2_n"),
        F.sum(F.abs(a)).alias("ActWtDiff2_d"),
    )
    wide = flow_side.join(weight_side, ["flow_date", "country"], "full")
    return _long(wide, ["flow_date", "country"], DAILY).select(
        F.col("flow_date").alias("date"), *LONG_COLUMNS[1:]
    )


def monthly_signals(fund_flows: DataFrame, weights: DataFrame, focus: DataFrame) -> DataFrame:
    """AllocMo, AllocTrend, AllocDiff, AllocSkew, Herfindahl, HerfindahlEq and FundCt per
    (allocation month m, country), over the funds with a flow row in m, dated the day m's
    snapshot is public (the 23rd of m+1). S and E: the fund's assets at the start of its first
    and the end of its last flow date of m; month-end assets A = E."""
    months = month_assets(fund_flows).withColumn("V", F.col("S") + F.col("E"))
    v = F.col("V")
    changes = weight_changes(weights).join(months, ["m", "fund_key"])
    dw = F.col("dw")
    change_side = changes.groupBy("m", "country").agg(
        (2.0 * F.sum(v * dw)).alias("AllocMo_n"),
        F.sum(v * (F.col("wn") + F.col("wo"))).alias("AllocMo_d"),
        F.sum(v * dw).alias("AllocTrend_n"),
        F.sum(F.abs(v * dw)).alias("AllocTrend_d"),
        F.sum(v * sgn(dw)).alias("AllocDiff_n"),
        F.sum(v).alias("AllocDiff_d"),
    )
    holders = (
        weights.where(F.col("w") > 0)
        .select(F.col("alloc_month").alias("m"), "fund_key", "country", "w")
        .join(months.select("m", "fund_key", F.col("E").alias("A")), ["m", "fund_key"])
        .join(focus, "fund_key", "left")
    )
    held = holders.join(peer_weights(holders, ["m"]), ["m", "focus", "country"], "left")
    w, big_a = F.col("w"), F.col("A")
    d = w * big_a
    holder_side = held.groupBy("m", "country").agg(
        F.sum(big_a * sgn(F.col("P") - w)).alias("AllocSkew_n"),
        F.sum(big_a).alias("AllocSkew_d"),
        F.sum(d * d).alias("Herfindahl_n"),
        F.pow(F.sum(d), 2).alias("Herfindahl_d"),
        F.sum(w * w).alias("HerfindahlEq_n"),
        F.pow(F.sum(w), 2).alias("HerfindahlEq_d"),
        F.count(F.lit(1)).cast("double").alias("FundCt_n"),
        F.lit(None).cast("double").alias("FundCt_d"),
    )
    wide = change_side.join(holder_side, ["m", "country"], "full")
    known = F.date_add(F.add_months("m", 1), RELEASE_DAY - 1)
    return _long(wide, ["m", "country"], MONTHLY).select(known.alias("date"), *LONG_COLUMNS[1:])
