"""The flows source's passes (docs/ingest.md, "9. Flows: window, passes and fund_days"): the
largest input, so its work is arranged to touch every row as few times as the semantics allow.

1. window pass: the first and last valid flow date of the batch (only ReportDate is read);
   the batch replaces that window in both share_class_flows and fund_days.
2. fund-day pass: every row parsed and checked once (all row-level rules are one projection),
   summed to (flow_date, fund) per investor type and written to fund_days. The same
   aggregation counts each fund-day's rows and marks which of the fund's share classes they
   belong to: a fund-day with more rows than share classes holds a duplicate key. Such
   fund-days are left out, and the counts by reason and the files holding rejected rows are
   observed on the way (no extra job).
3. write pass: the rows again, with the same checks plus the exact duplicate keys (computed
   only when the fund-day pass saw a duplicate), accepted ones written to share_class_flows.
4. quarantine: only the files holding rejected rows are read a third time, for those rows.

Reading the raw rows twice measured faster than caching the parsed rows once (the cache fill
costs more than a scan) and than shuffling them by date for a one-read layout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.ingest import fund_days as fd
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import first_reason
from flowmosaic.ingest.sources import Context
from flowmosaic.ingest.sources import flows as spec
from flowmosaic.spark.calendar import is_flow_date
from flowmosaic.tables import table

MASK_BLOCKS = 4  # 4 x 64 share classes per fund tell duplicates apart exactly
# Duplicate keys up to this many come back to the driver; more stay a Spark DataFrame.
COLLECT_MAX_ROWS = 200_000


def reference_frame(spark: SparkSession, share_classes: pd.DataFrame, local_idx) -> DataFrame:
    """The share-class reference the checks join: share_id -> share_key, fund (key and id),
    investor-type code, and the share class's position within its fund."""
    ref = pd.DataFrame(
        {
            "share_id": share_classes["share_id"].astype(str),
            "share_key": share_classes["share_key"].astype("int32"),
            "fund_key": share_classes["fund_key"].astype("int32"),
            "_ref_fund_id": share_classes["fund_id"].astype(str),
            "_itype": share_classes["investor_type"]
            .map(fd.TYPE_CODE)
            .fillna(fd.TYPE_CODE["Other"])
            .astype("int32"),
            "_idx": local_idx,
        }
    )
    schema = (
        "share_id string, share_key int, fund_key int, _ref_fund_id string, _itype int, _idx int"
    )
    if ref.empty:
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(ref, schema)


def with_reference(parsed: DataFrame, ref: DataFrame) -> DataFrame:
    return parsed.join(F.broadcast(ref), "share_id", "left")


def window(raw: DataFrame) -> tuple[dt.date, dt.date] | None:
    """[first, last] valid flow date of the batch; None when it has none."""
    d = spec.parse_date(raw)
    row = (
        raw.select(d.alias("d")).where(is_flow_date(F.col("d"))).agg(F.min("d"), F.max("d")).first()
    )
    assert row is not None  # a global aggregate has one row
    lo, hi = row
    return None if lo is None else (lo, hi)


def window_predicate(lo: dt.date, hi: dt.date) -> str:
    return fd.window_predicate(lo, hi)


@dataclass
class FundDayPass:
    rows: int  # rows read
    row_rejects: dict[str, int]  # by reason, rules other than duplicate_key
    dirty_files: list[str]  # files holding row-level rejects
    suspects: int  # fund-days that may hold a duplicate key
    written: storage.Written  # the fund_days commit


def _block_masks() -> list[Column]:
    """Per block of 64 share classes, the bits of the fund's share classes seen that day."""
    idx = f"least(coalesce(_idx, 0), {64 * MASK_BLOCKS - 1})"
    bit = F.expr(f"shiftleft(cast(1 AS BIGINT), {idx} % 64)")
    block = F.expr(f"{idx} DIV 64")
    return [
        F.bit_or(F.when(block == k, bit).otherwise(F.lit(0).cast("long"))).alias(f"_m{k}")
        for k in range(MASK_BLOCKS)
    ]


def fund_day_pass(
    spark: SparkSession,
    checked: DataFrame,
    inp: RawInput,
    ctx: Context,
    path: str,
    lo: dt.date,
    hi: dt.date,
    metadata: dict,
) -> FundDayPass:
    """checked: parsed rows joined with the share-class reference. Writes fund_days for the
    window [lo, hi] (replacing it) and returns what was observed on the way."""
    reason, _ = first_reason(spec.row_rules(inp, ctx))
    rows = checked.withColumn("_row_reason", reason)
    codes = [x.reason for x in spec.row_rules(inp, ctx)]
    seen = Observation("flows_rows")
    rows = rows.observe(
        seen,
        F.count(F.lit(1)).alias("rows"),
        *[
            F.sum(F.when(F.col("_row_reason") == code, 1).otherwise(0)).alias(code)
            for code in codes
        ],
        F.collect_set(F.when(F.col("_row_reason").isNotNull(), F.col("_source_file"))).alias(
            "dirty_files"
        ),
    )
    keyed = F.col("flow_date").isNotNull() & F.col("share_id").isNotNull()
    # a fund's rows group on its key; an unknown share class on its own (negative) key
    gkey = F.when(F.col("fund_key").isNotNull(), F.col("fund_key").cast("long")).otherwise(
        F.lit(-1).cast("long") - F.pmod(F.xxhash64("share_id"), F.lit(1 << 62))
    )
    ok = F.col("_row_reason").isNull()
    days = (
        rows.where(keyed)
        .groupBy("flow_date", gkey.alias("_g"))
        .agg(
            F.count(F.lit(1)).alias("_n"),
            F.sum(ok.cast("int")).alias("_ok"),
            *_block_masks(),
            *fd.type_sums(ok),
        )
    )
    distinct = sum((F.bit_count(F.col(f"_m{k}")) for k in range(MASK_BLOCKS)), F.lit(0))
    suspect = F.col("_n") > distinct
    marked = Observation("flows_suspects")
    days = days.observe(marked, F.sum(F.when(suspect, 1).otherwise(0)).alias("suspects"))
    out = days.where((F.col("_g") >= 0) & ~suspect & (F.col("_ok") > 0)).select(
        F.col("flow_date"),
        F.col("_g").cast("int").alias("fund_key"),
        *[
            c
            for c in table("fund_days").columns
            if c not in ("flow_date", "fund_key", "flow_month")
        ],
        F.trunc("flow_date", "MM").alias("flow_month"),
    )
    pred = window_predicate(lo, hi)
    storage.replace_where(
        out, path, pred, {**metadata, "table": "fund_days", "replace_where": pred}
    )
    got, sus = seen.get, marked.get
    return FundDayPass(
        rows=int(got["rows"]),
        row_rejects={c: int(got[c]) for c in codes if got[c]},
        dirty_files=sorted(got["dirty_files"] or []),
        suspects=int(sus.get("suspects") or 0),
        written=storage.Written.from_commit(storage.commit_info(spark, path)),
    )


def exact_duplicates(spark: SparkSession, parsed: DataFrame) -> tuple[DataFrame, list[str], int]:
    """(flow_date, share_id, _dup_n) of the keys given more than once, the files holding
    them, and how many rows they cover. Only run when the fund-day pass saw a duplicate."""
    keyed = parsed.where(F.col("flow_date").isNotNull() & F.col("share_id").isNotNull())
    dups = (
        keyed.groupBy("flow_date", "share_id")
        .agg(F.count(F.lit(1)).alias("_dup_n"), F.collect_set("_source_file").alias("_files"))
        .where(F.col("_dup_n") > 1)
    )
    head = dups.limit(COLLECT_MAX_ROWS + 1).collect()
    if len(head) <= COLLECT_MAX_ROWS:
        files = sorted({f for r in head for f in r["_files"]})
        frame = spark.createDataFrame(
            [(r["flow_date"], r["share_id"], r["_dup_n"]) for r in head],
            "flow_date date, share_id string, _dup_n long",
        )
        return F.broadcast(frame), files, sum(int(r["_dup_n"]) for r in head)
    big = dups.localCheckpoint(eager=True)
    files = sorted({r[0] for r in big.select(F.explode("_files")).distinct().collect()})
    total = big.agg(F.sum("_dup_n")).first()
    assert total is not None  # a global aggregate has one row
    rows = int(total[0])
    return big.select("flow_date", "share_id", "_dup_n"), files, rows


def classify(checked: DataFrame, dups: DataFrame | None, inp: RawInput, ctx: Context) -> DataFrame:
    """Every rule, the duplicate rule included: adds _reason and _detail."""
    if dups is None:
        df = checked.withColumn("_dup_n", F.lit(None).cast("long"))
    else:
        df = checked.join(dups, ["flow_date", "share_id"], "left")
    reason, detail = first_reason(spec.rules(inp, ctx))
    return df.withColumns({"_reason": reason, "_detail": detail})


@dataclass
class WritePass:
    accepted: int
    identity_breaks: int
    identity_unchecked: int
    identity_breaks_ok_if_forex_flipped: int
    dates: list[dt.date]  # flow dates with accepted rows
    written: storage.Written  # the share_class_flows commit


def write_pass(
    spark: SparkSession, classified: DataFrame, path: str, lo: dt.date, hi: dt.date, metadata: dict
) -> WritePass:
    """Accepted rows -> share_class_flows, replacing the window [lo, hi]."""
    seen = Observation("flows_accepted")
    accepted = classified.where(F.col("_reason").isNull()).observe(
        seen,
        F.count(F.lit(1)).alias("accepted"),
        F.sum(F.col("identity_break").cast("long")).alias("breaks"),
        F.sum(F.col("_identity_unchecked").cast("long")).alias("unchecked"),
        F.sum(F.col("_fx_flip_ok").cast("long")).alias("flip"),
        F.collect_set("flow_date").alias("dates"),
    )
    out = accepted.select(
        *[F.col(f.name).cast(f.dataType) for f in table("share_class_flows").schema.fields]
    )
    pred = window_predicate(lo, hi)
    storage.replace_where(
        out, path, pred, {**metadata, "table": "share_class_flows", "replace_where": pred}
    )
    got = seen.get
    return WritePass(
        int(got["accepted"]),
        int(got["breaks"] or 0),
        int(got["unchecked"] or 0),
        int(got["flip"] or 0),
        sorted(got["dates"] or []),
        storage.Written.from_commit(storage.commit_info(spark, path)),
    )


def rejected_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("_reason").isNotNull())
