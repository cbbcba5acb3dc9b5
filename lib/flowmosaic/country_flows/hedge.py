"""The investor grain split by hedge status: silver share_class_flows + share_classes -> gold
`investor_hedge_flows` (docs/mosaic.md, "Hedged and unhedged share classes").

The rows of investor_country_flows with the share classes' hedge status (hedged, unhedged,
unknown: the `hedged` flag true, false, NULL) in place of their investor type. fund_days has no
hedge split, so the chain starts one step earlier, from the share-class rows: each universe's
selected share classes (its investor_type filter, section 4 of docs/methodology.md) are summed
per (fund, flow date, hedge status), and those fund-days go through the same point-in-time
weights, single-country fallback and ex_domestic rule as the country aggregation
(transforms.weights and transforms.aggregate, the join engine's own transforms). Summed over
hedge status, the rows are investor_country_flows summed over investor type.

Everything stays in Spark; the driver holds the universes' member keys and the country list
only (as for the other gold jobs). One Delta commit replaces the window of the given universes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic.config import Settings, load_countries
from flowmosaic.country_flows import sources, transforms
from flowmosaic.country_flows.job import CountryFlowsRun, resolve_window, write_window
from flowmosaic.errors import InputError
from flowmosaic.ingest.fund_days import TYPE_CODE, investor_type_code
from flowmosaic.spark.calendar import alloc_month as spark_alloc_month
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import FUND_DAY_MEASURES, INVESTOR_TYPES, table
from flowmosaic.universes import Universe, select_universes

TABLE = "investor_hedge_flows"
STATUSES = ("hedged", "unhedged", "unknown")
SOURCES = ("share_class_flows", "share_classes", "funds", "fund_allocations")
MEASURES = FUND_DAY_MEASURES  # flow, assets_start, portfolio_change


def hedge_status(hedged: Column) -> Column:
    """'hedged' (true), 'unhedged' (false), 'unknown' (NULL: the delivery did not say)."""
    return (
        F.when(hedged, F.lit("hedged")).when(~hedged, F.lit("unhedged")).otherwise(F.lit("unknown"))
    )


def class_attributes(share_classes: DataFrame) -> DataFrame:
    """(share_key, _itype, hedge_status) of every share class. A table written before the
    hedge flag existed has no `hedged` column: every class is unknown."""
    hedged = F.col("hedged") if "hedged" in share_classes.columns else F.lit(None).cast("boolean")
    return share_classes.select(
        "share_key",
        investor_type_code(F.col("investor_type")).alias("_itype"),
        hedge_status(hedged).alias("hedge_status"),
    )


def selected_types(spark: SparkSession, universes: list[Universe]) -> DataFrame:
    """(universe, _itype): the investor types each universe selects (all three by default)."""
    rows = [
        (u.name, TYPE_CODE[t])
        for u in universes
        for t in (tuple(u.investor_type) if u.investor_type else INVESTOR_TYPES)
    ]
    return spark.createDataFrame(rows, "universe string, _itype int")


def universe_class_days(
    flows: DataFrame, classes: DataFrame, members: DataFrame, types: DataFrame
) -> DataFrame:
    """Per universe, fund, flow date and hedge status, the sums of the universe's selected
    share classes reporting that day (a NULL portfolio change left out of its sum, 0 when all
    are NULL, as at the investor grain); only groups with a selected class reporting exist,
    so a fund without share classes of the selected types never counts. Columns as
    transforms.universe_fund_days at the investor grain, the hedge status in `investor_type`
    (the column aggregate() groups by)."""
    rows = (
        flows.select("flow_date", "share_key", "fund_key", *MEASURES)
        .join(F.broadcast(classes), "share_key", "left")
        .fillna({"_itype": TYPE_CODE["Other"], "hedge_status": "unknown"})
        .join(F.broadcast(members), "fund_key")
        .join(F.broadcast(types), ["universe", "_itype"])
    )
    keep = ["universe", "fund_key", "domicile", "single", "ex_domestic", "flow_date"]
    out = rows.groupBy(*keep, F.col("hedge_status").alias("investor_type")).agg(
        *[F.sum(m).alias(m) for m in MEASURES]
    )
    return out.fillna(0.0, subset=list(MEASURES)).withColumn(
        "alloc_month", spark_alloc_month(F.col("flow_date"))
    )


def hedge_rows(
    spark: SparkSession,
    flows: DataFrame,
    share_classes: DataFrame,
    mem: dict[str, pd.DataFrame],
    universes: list[Universe],
    allocations: DataFrame,
    countries: tuple[str, ...],
    max_age_months: int = 0,
) -> DataFrame:
    """The whole chain: a window's share-class rows to investor_hedge_flows' columns."""
    udays = universe_class_days(
        flows,
        class_attributes(share_classes),
        transforms.members_frame(spark, mem, universes),
        selected_types(spark, universes),
    )
    w = transforms.weights(allocations, max_age_months)
    rows = transforms.aggregate(udays, w, countries, investor_grain=True)
    rows = rows.withColumnRenamed("investor_type", "hedge_status")
    return rows.select(*[F.col(f.name).cast(f.dataType) for f in table(TABLE).schema.fields])


def run(
    spark: SparkSession,
    settings: Settings,
    universe_names: str | list[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    alloc_month: dt.date | None = None,
    max_age_months: int = 0,
    universes_path: str | None = None,
    progress: Callable[[str], None] = print,
) -> CountryFlowsRun:
    """Write investor_hedge_flows for a window (default: share_class_flows' first to last
    date; alloc_month: the dates that month's snapshot can serve) and universes: one commit
    replacing exactly those rows, the silver versions read in its userMetadata."""
    t0 = time.time()
    if max_age_months < 0:
        raise InputError("allocation_max_age_months must be 0 (off) or more")
    universes = select_universes(universe_names, universes_path)
    names = [u.name for u in universes]
    with JobCounter(spark, f"{TABLE}-{int(t0)}") as jobs:
        silver = sources.read_silver(spark, settings, SOURCES)
        flows = silver.frames["share_class_flows"]
        start, end = resolve_window(
            silver, "share_class_flows", start, end, alloc_month, max_age_months
        )
        result = CountryFlowsRun(
            names,
            start,
            end,
            silver.versions,
            table=TABLE,
            engine="join",
            path=settings.table_path(TABLE),
        )
        countries = sources.destinations_in(silver, load_countries(), start, end, max_age_months)
        mem = sources.members(spark, silver, universes, countries)
        window = flows.where(
            F.col("flow_date").between(start, end)
            & F.col("flow_month").between(cal.month_start(start), cal.month_start(end))
        )
        months = sources.alloc_months(start, end)
        allocs = silver.frames["fund_allocations"].where(
            F.col("alloc_month").between(cal.add_months(months[0], -max_age_months), months[-1])
        )
        rows = hedge_rows(
            spark,
            window,
            silver.frames["share_classes"],
            mem,
            universes,
            allocs,
            countries,
            max_age_months,
        )
        write_window(spark, settings, result, rows, max_age_months, "mosaic-flows", progress)
    result.spark_jobs = jobs.jobs
    result.seconds = time.time() - t0
    return result
