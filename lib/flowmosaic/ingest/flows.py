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
from flowmosaic.ingest.reasons import first_reason, line_fault
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


@dataclass
class CheckPass:
    """The batch as the row-level rules see it, before anything is written."""

    rows: int  # rows read
    row_rejects: dict[str, int]  # by reason, every rule but duplicate_key
    accepted_by_date: dict[dt.date, int]  # rows passing those rules, per valid flow date
    window: tuple[dt.date, dt.date] | None  # first and last valid flow date
    dirty_files: list[str]  # files holding row-level rejects
    likely_duplicates: bool  # some date has clearly more rows than distinct share classes


def check_pass(checked: DataFrame, inp: RawInput, ctx: Context) -> CheckPass:
    """One read: every row parsed and checked against the row-level rules, counted per
    (valid flow date, reason). A valid flow date parses and is on the flow calendar, whatever
    else is wrong with the row; a malformed or cut-short line has none. Per date, an estimate
    of the distinct share classes (HyperLogLog, 1 % error) tells whether the batch may hold
    many duplicate keys, which would empty dates the guard must know about."""
    reason, _ = first_reason(spec.row_rules(inp, ctx))
    d = F.when(is_flow_date(F.col("flow_date")) & ~line_fault(), F.col("flow_date"))
    ok = F.col("_r").isNull()
    got = (
        checked.select(d.alias("_d"), reason.alias("_r"), "share_id", "_source_file")
        .groupBy("_d", "_r")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.approx_count_distinct(F.when(ok, F.col("share_id")), 0.01).alias("distinct"),
            F.collect_set(F.when(~ok, F.col("_source_file"))).alias("files"),
        )
        .collect()
    )
    rejects: dict[str, int] = {}
    accepted: dict[dt.date, int] = {}
    files: set[str] = set()
    dup_hint = False
    for row in got:
        if row["_r"] is not None:
            rejects[row["_r"]] = rejects.get(row["_r"], 0) + int(row["n"])
            files.update(row["files"] or [])
        elif row["_d"] is not None:
            n, distinct = int(row["n"]), int(row["distinct"])
            accepted[row["_d"]] = n
            dup_hint |= n > 1.05 * distinct + 1
    dates = sorted({row["_d"] for row in got if row["_d"] is not None})
    return CheckPass(
        rows=sum(int(row["n"]) for row in got),
        row_rejects=rejects,
        accepted_by_date=accepted,
        window=(dates[0], dates[-1]) if dates else None,
        dirty_files=sorted(files),
        likely_duplicates=dup_hint,
    )


def rows_by_date(spark: SparkSession, path: str, lo: dt.date, hi: dt.date) -> dict[dt.date, int]:
    """share_class_flows rows per flow date of [lo, hi] (only flow_date is read)."""
    if not storage.exists(spark, path):
        return {}
    got = (
        storage.read(spark, path)
        .where(window_predicate(lo, hi))
        .groupBy("flow_date")
        .count()
        .collect()
    )
    return {r["flow_date"]: int(r["count"]) for r in got}


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
    keyed = F.col("flow_date").isNotNull() & F.col("share_id").isNotNull() & ~line_fault()
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
        out, path, pred, {**metadata, "table": "fund_days", "replace_where": pred}, sized=True
    )
    got, sus = seen.get, marked.get
    return FundDayPass(
        rows=int(got["rows"]),
        row_rejects={c: int(got[c]) for c in codes if got[c]},
        dirty_files=sorted(got["dirty_files"] or []),
        suspects=int(sus.get("suspects") or 0),
        written=storage.Written.from_commit(storage.commit_info(spark, path)),
    )


@dataclass
class Duplicates:
    """The (flow_date, share_id) keys given more than once."""

    frame: DataFrame  # flow_date, share_id, _dup_n
    files: list[str]  # the files holding them
    rows: int  # the rows they cover
    by_date: dict[dt.date, int]  # those rows per flow date


def exact_duplicates(spark: SparkSession, parsed: DataFrame) -> Duplicates:
    """The keys given more than once. Only run when the check pass or the fund-day pass saw a
    sign of them."""
    keyed = parsed.where(
        F.col("flow_date").isNotNull() & F.col("share_id").isNotNull() & ~line_fault()
    )
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
        by_date: dict[dt.date, int] = {}
        for r in head:
            by_date[r["flow_date"]] = by_date.get(r["flow_date"], 0) + int(r["_dup_n"])
        return Duplicates(F.broadcast(frame), files, sum(by_date.values()), by_date)
    big = dups.localCheckpoint(eager=True)
    files = sorted({r[0] for r in big.select(F.explode("_files")).distinct().collect()})
    per_date = big.groupBy("flow_date").agg(F.sum("_dup_n").alias("n")).collect()
    by_date = {r["flow_date"]: int(r["n"]) for r in per_date}
    return Duplicates(
        big.select("flow_date", "share_id", "_dup_n"), files, sum(by_date.values()), by_date
    )


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
        out,
        path,
        pred,
        {**metadata, "table": "share_class_flows", "replace_where": pred},
        sized=True,
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
