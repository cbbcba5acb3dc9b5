"""fund_days: share-class flows summed to (fund, flow_date), one column set per investor type
(docs/methodology.md, "4. Fund-days").

Ingest keeps it in step with share_class_flows: the fund-day pass writes it for every window
it ingests (ingest/flows.py), and recompute() rebuilds it from share_class_flows after a batch
with duplicate keys, and over the dates of share classes that changed. A changed investor type
then counts on past dates; a move to another fund does not, since the rebuild keeps the fund_key
stored on the share_class_flows rows (docs/ingest.md, "11. Share classes that change type or
fund").
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import Settings
from flowmosaic.tables import FUND_DAY_MEASURES, INVESTOR_TYPES, fund_day_column, table

TYPE_CODE = {t: i for i, t in enumerate(INVESTOR_TYPES)}  # Institutional 0, Retail 1, Other 2


def investor_type_code(investor_type: Column) -> Column:
    """0 Institutional, 1 Retail, 2 anything else (another word, or none)."""
    return (
        F.when(investor_type == "Institutional", F.lit(0))
        .when(investor_type == "Retail", F.lit(1))
        .otherwise(F.lit(2))
    )


def type_sums(counted: Column) -> list[Column]:
    """Per investor type and measure, the sum over the rows where `counted` holds; NULL when
    the fund had no such share-class row that day. Rows carry _itype (investor_type_code)."""
    return [
        F.sum(F.when(counted & (F.col("_itype") == F.lit(code)), F.col(m))).alias(
            fund_day_column(m, t)
        )
        for t, code in TYPE_CODE.items()
        for m in FUND_DAY_MEASURES
    ]


def any_measure() -> Column:
    """True on a fund-day row with at least one share class reporting."""
    out = F.lit(False)
    for t in INVESTOR_TYPES:
        out = out | F.col(fund_day_column("flow", t)).isNotNull()
    return out


def window_predicate(lo: dt.date, hi: dt.date) -> str:
    """The flow-date window [lo, hi] with its month partitions (for partition pruning)."""
    return (
        f"flow_date >= DATE'{lo}' AND flow_date <= DATE'{hi}' AND "
        f"flow_month >= DATE'{lo.replace(day=1)}' AND flow_month <= DATE'{hi.replace(day=1)}'"
    )


def from_share_class_flows(flows: DataFrame, share_classes: DataFrame) -> DataFrame:
    """fund_days rows from silver share-class rows (every row counts) and the share-class
    dimension (share_key -> investor_type)."""
    types = F.broadcast(
        share_classes.select(
            "share_key", investor_type_code(F.col("investor_type")).alias("_itype")
        )
    )
    rows = flows.join(types, "share_key", "left").fillna({"_itype": TYPE_CODE["Other"]})
    out = rows.groupBy("flow_month", "flow_date", "fund_key").agg(*type_sums(F.lit(True)))
    return out.select(*table("fund_days").columns)


def recompute(
    spark: SparkSession, settings: Settings, lo: dt.date, hi: dt.date, metadata: dict
) -> storage.Written:
    """Rebuild fund_days for [lo, hi] from share_class_flows and share_classes."""
    pred = window_predicate(lo, hi)
    flows = storage.read_table(spark, settings, "share_class_flows").where(pred)
    sc = storage.read_table(spark, settings, "share_classes")
    path = storage.ensure(spark, settings, "fund_days")
    storage.replace_where(
        from_share_class_flows(flows, sc),
        path,
        pred,
        {**metadata, "table": "fund_days", "replace_where": pred},
        sized=True,
    )
    return storage.Written.from_commit(storage.commit_info(spark, path))
