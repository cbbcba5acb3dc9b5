"""The weekly and monthly flows' passes (docs/ingest.md, "16. Weekly and monthly flows"). These
files are a fraction of the daily ones (a row per share class and week or month), so one
simpler arrangement serves both: every row checked with every rule (duplicates found by a
window over the key), counted per period end before anything is written (the guard's input),
then the accepted rows replace the batch's periods, from its first to its last valid period
end, and the rejected ones go to the quarantine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from flowmosaic import storage
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import first_reason, line_fault
from flowmosaic.ingest.sources import Context, Source
from flowmosaic.spark.calendar import is_period_end
from flowmosaic.tables import table


def frequency_of(spec: Source) -> str:
    return spec.name.removesuffix("_flows")


def classify(checked: DataFrame, spec: Source, inp: RawInput, ctx: Context) -> DataFrame:
    """Every rule over the rows joined with the share-class reference: adds _dup_n (how many
    rows share a valid key), _reason and _detail."""
    valid = F.col("flow_date").isNotNull() & F.col("share_id").isNotNull() & ~line_fault()
    n = F.count(F.lit(1)).over(Window.partitionBy("flow_date", "share_id", "_valid"))
    df = (
        checked.withColumn("_valid", valid)
        .withColumn("_dup_n", F.when(F.col("_valid") & (n > 1), n))
        .drop("_valid")
    )
    reason, detail = first_reason(spec.rules(inp, ctx))
    return df.withColumns({"_reason": reason, "_detail": detail})


@dataclass
class PeriodCheck:
    rows: int
    rejects: dict[str, int]  # by reason
    accepted_by_period: dict[dt.date, int]
    window: tuple[dt.date, dt.date] | None  # first and last valid period end


def check(classified: DataFrame, frequency: str) -> PeriodCheck:
    """Counts per (valid period end, reason); a valid period end parses, is a period end and
    is not on a malformed or cut-short line, whatever else is wrong with the row."""
    d = F.when(is_period_end(F.col("flow_date"), frequency) & ~line_fault(), F.col("flow_date"))
    got = classified.groupBy(d.alias("_d"), "_reason").count().collect()
    rejects: dict[str, int] = {}
    accepted: dict[dt.date, int] = {}
    for r in got:
        if r["_reason"] is not None:
            rejects[r["_reason"]] = rejects.get(r["_reason"], 0) + int(r["count"])
        elif r["_d"] is not None:
            accepted[r["_d"]] = int(r["count"])
    ends = sorted({r["_d"] for r in got if r["_d"] is not None})
    return PeriodCheck(
        sum(int(r["count"]) for r in got),
        rejects,
        accepted,
        (ends[0], ends[-1]) if ends else None,
    )


def window_predicate(lo: dt.date, hi: dt.date) -> str:
    """Periods ending in [lo, hi] with their year partitions. No BETWEEN: Spark 4 rewrites it
    into an expression Delta's replaceWhere check cannot resolve (INTERNAL_ERROR "nullable on
    unresolved object")."""
    return (
        f"period_end >= DATE'{lo}' AND period_end <= DATE'{hi}' "
        f"AND period_year >= {lo.year} AND period_year <= {hi.year}"
    )


def rows_by_period(spark: SparkSession, path: str, lo: dt.date, hi: dt.date) -> dict[dt.date, int]:
    """Rows per period end of [lo, hi] in the table (empty when there is no table)."""
    if not storage.exists(spark, path):
        return {}
    got = storage.read(spark, path).where(window_predicate(lo, hi)).groupBy("period_end").count()
    return {r["period_end"]: int(r["count"]) for r in got.collect()}


@dataclass
class PeriodWrite:
    accepted: int
    identity_breaks: int
    identity_unchecked: int
    written: storage.Written


def write(
    spark: SparkSession,
    classified: DataFrame,
    name: str,
    path: str,
    lo: dt.date,
    hi: dt.date,
    metadata: dict,
) -> PeriodWrite:
    """The accepted rows replace the periods [lo, hi] of the table `name`."""
    seen = Observation(name)
    accepted = (
        classified.where(F.col("_reason").isNull())
        .withColumns({"period_end": F.col("flow_date"), "period_year": F.year(F.col("flow_date"))})
        .observe(
            seen,
            F.count(F.lit(1)).alias("accepted"),
            F.sum(F.col("identity_break").cast("long")).alias("breaks"),
            F.sum(F.col("_identity_unchecked").cast("long")).alias("unchecked"),
        )
    )
    out = accepted.select(*[F.col(f.name).cast(f.dataType) for f in table(name).schema.fields])
    pred = window_predicate(lo, hi)
    storage.replace_where(
        out, path, pred, {**metadata, "table": name, "replace_where": pred}, sized=True
    )
    got = seen.get
    return PeriodWrite(
        int(got["accepted"]),
        int(got["breaks"] or 0),
        int(got["unchecked"] or 0),
        storage.Written.from_commit(storage.commit_info(spark, path)),
    )
