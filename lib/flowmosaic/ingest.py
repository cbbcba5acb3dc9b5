"""`flowmosaic ingest`: raw vendor files (CSV or Parquet) -> silver Delta tables + quarantine.

Sources and their silver tables (column maps in schemas.RAW_*):

    funds          FundId, AssetClass, GeographicFocus, CrossBorder, Domicile, ActivePassive,
                   Vehicle                                           -> funds (upsert by fund_id)
    share_classes  ShareId, FundId, InvestorType                     -> share_classes (upsert)
    flows          ReportDate, ShareId, FundId, Flow, AssetsStart, AssetsEnd, PortfolioChange,
                   ForexChange              -> share_class_flows (partition flow_month; the
                                               batch's [min, max] accepted flow_date is replaced)
    allocations    wide: ReportDate, FundId, <one column per ISO2 code>, or
                   long: ReportDate, FundId, Country, Allocation
                                            -> fund_allocations (partition alloc_month; the
                                               batch's accepted months are replaced)

Every input row ends up accepted or in the `quarantine` table (run_id, source_table,
source_file, row_content = the row as read, as JSON, reason, detail, quarantined_at), and
read = accepted + quarantined is checked for every source and printed (IngestReport.describe).
"read" is counted on the input itself; for the small sources accepted/quarantined come from
one aggregation before any write; for the flows (100M rows) they are taken from what was
committed (rows in the replaced window, quarantine rows of this run), so that the flows are
read three times in all: one key pass (duplicates, window, counts), the write, and the
quarantine write (skipped when the key pass found nothing to quarantine). Re-ingesting a file
replaces its earlier quarantine rows (scope: source_table + source file or directory).

Reason codes (stable). A row gets ONE reason: the first that applies in this order.

    missing_key                 an identifier is blank: ReportDate, ShareId, FundId (and the
                                long allocations' Country)
    unparseable_date            ReportDate is not yyyy-mm-dd / yyyymmdd (or a Parquet date), or
                                lies outside 1900-2199
    not_flow_date               flows: ReportDate is a weekend, 1 January or 25 December
    unknown_country             allocations: a country (wide column header or long Country)
                                not among the 52 codes of conf/countries.yaml
    missing_value               a required number is blank: Flow, AssetsStart, long Allocation
    unparseable_number          a number column holds a non-number (NaN and infinities included)
    unparseable_boolean         funds: CrossBorder not one of true/false/t/f/yes/no/y/n/1/0
    negative_assets_start       flows: AssetsStart < 0
    allocation_out_of_range     allocation below 0 or above 100
    duplicate_key               the key occurs more than once in the batch: ALL its rows are
                                quarantined (which one is right is ambiguous). Keys: flows
                                (flow_date, share_id); share classes share_id; funds fund_id;
                                allocations (fund_id, alloc_month) per wide line, (fund_id,
                                alloc_month, country) per long row
    allocation_sum_above_100_5  the fund-month's allocations sum above 100.5: all its rows.
                                The sum covers every parseable in-range value of the fund-month,
                                unknown countries and duplicates included
    unknown_fund                share classes / allocations: FundId in neither the batch's
                                accepted funds nor the funds table
    unknown_share_class         flows: ShareId in neither the batch's accepted share classes nor
                                the share_classes table
    fund_mismatch               flows: FundId differs from the share class's fund

Units: a flows / funds / share-class / long-allocation row is one unit. A wide allocation line
becomes one record per non-blank, non-zero cell (blank and 0 mean "no allocation" and are not
stored, in both layouts), or one empty record when it has none; records are the unit counted,
and a bad ReportDate/FundId quarantines every record of its line. Empty records and zero
allocations are accepted but not stored.

Accounting identity (flows): diff = AssetsEnd - (AssetsStart + Flow + PortfolioChange +
forex_sign x ForexChange); a row with |diff| > max(abs_usd, rel x |AssetsStart|) (default
max(1.0 US$, 1e-6 x AssetsStart)) is accepted with identity_break = true and counted. Rows
with a blank AssetsEnd/PortfolioChange/ForexChange cannot be checked (counted as unchecked).

Writes: flows replaceWhere `flow_date` in [min, max] of the accepted dates (and the matching
flow_month range, for partition pruning): a restated file replaces exactly its window, and
dates inside it that it lacks are emptied (reported). Allocations replaceWhere the accepted
alloc_months. Funds and share classes: MERGE by key of the new or changed rows only (a re-run
commits nothing). Every commit carries userMetadata {job, run_id, files, counts, table}.

Errors: a path that does not exist, an unreadable file, or a file lacking a required column
raises InputError naming the file and the column(s) before any table is created or changed.
Once all inputs are validated and counted, tables are written in the order funds,
share_classes, fund_allocations, share_class_flows, quarantine; each commit is atomic, but a
crash between two commits leaves the earlier tables updated (re-running the same files repairs
it: every write is idempotent).
"""
from __future__ import annotations

import bz2
import csv
import datetime as dt
import gzip
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from flowmosaic import schemas, storage
from flowmosaic.calendar import flow_dates
from flowmosaic.config import Settings, load_countries
from flowmosaic.errors import InputError

JOB = "ingest"

MISSING_KEY = "missing_key"
UNPARSEABLE_DATE = "unparseable_date"
NOT_FLOW_DATE = "not_flow_date"
UNKNOWN_COUNTRY = "unknown_country"
MISSING_VALUE = "missing_value"
UNPARSEABLE_NUMBER = "unparseable_number"
UNPARSEABLE_BOOLEAN = "unparseable_boolean"
NEGATIVE_ASSETS_START = "negative_assets_start"
ALLOCATION_OUT_OF_RANGE = "allocation_out_of_range"
DUPLICATE_KEY = "duplicate_key"
ALLOCATION_SUM_ABOVE_100_5 = "allocation_sum_above_100_5"
UNKNOWN_FUND = "unknown_fund"
UNKNOWN_SHARE_CLASS = "unknown_share_class"
FUND_MISMATCH = "fund_mismatch"
REASONS = (MISSING_KEY, UNPARSEABLE_DATE, NOT_FLOW_DATE, UNKNOWN_COUNTRY, MISSING_VALUE,
           UNPARSEABLE_NUMBER, UNPARSEABLE_BOOLEAN, NEGATIVE_ASSETS_START,
           ALLOCATION_OUT_OF_RANGE, DUPLICATE_KEY, ALLOCATION_SUM_ABOVE_100_5, UNKNOWN_FUND,
           UNKNOWN_SHARE_CLASS, FUND_MISMATCH)

ALLOCATION_SUM_LIMIT = 100.5
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
# Key sets (duplicates, over-100.5 fund-months, known ids) up to COLLECT_MAX_ROWS pass through
# the driver; bigger ones are checkpointed, and broadcast up to BROADCAST_MAX_ROWS.
COLLECT_MAX_ROWS = 200_000
# Shuffle accepted flows by month before writing (one file per month) rather than writing
# each input split's months from the split's own task (local sort, files per split x month).
# Measured on typed Parquet input (5.7M rows of the medium data set): without the shuffle the
# write is ~15% faster, at the price of one file per input split and month.
REPARTITION_FLOWS_BY_MONTH = False
BROADCAST_MAX_ROWS = 2_000_000

SOURCES = ("funds", "share_classes", "allocations", "flows")  # processing (dependency) order
TABLE_OF = {"funds": "funds", "share_classes": "share_classes",
            "allocations": "fund_allocations", "flows": "share_class_flows"}
REQUIRED = {
    "funds": tuple(schemas.RAW_FUNDS),
    "share_classes": tuple(schemas.RAW_SHARE_CLASSES),
    "flows": tuple(schemas.RAW_FLOWS),
    "allocations": tuple(schemas.RAW_ALLOCATIONS_WIDE_KEYS),
}
LONG_ALLOCATION_COLUMNS = tuple(schemas.RAW_ALLOCATIONS_LONG)

FLOW_DATE_SQL = ("dayofweek({c}) BETWEEN 2 AND 6 AND NOT (month({c}) = 1 AND day({c}) = 1) "
                 "AND NOT (month({c}) = 12 AND day({c}) = 25)")
CONSTRAINTS = {
    "share_class_flows": {
        "assets_start_non_negative": "assets_start >= 0",
        "flow_month_is_month_of_flow_date": "flow_month = trunc(flow_date, 'MM')",
        "flow_date_on_flow_calendar": FLOW_DATE_SQL.format(c="flow_date"),
    },
    "fund_allocations": {
        "allocation_pct_0_100": "allocation_pct >= 0 AND allocation_pct <= 100",
        "alloc_month_is_month_of_report_date": "alloc_month = trunc(report_date, 'MM')",
        "country_iso2": "country RLIKE '^[A-Z]{2}$'",
    },
    "funds": {"fund_id_not_blank": "length(trim(fund_id)) > 0"},
    "share_classes": {"ids_not_blank": "length(trim(share_id)) > 0 AND length(trim(fund_id)) > 0"},
    "quarantine": {"reason_not_blank": "length(reason) > 0"},
}
PARTITIONS = {"share_class_flows": ("flow_month",), "fund_allocations": ("alloc_month",),
              "quarantine": ("source_table",)}
TABLE_SCHEMAS = {"share_class_flows": schemas.SHARE_CLASS_FLOWS,
                 "share_classes": schemas.SHARE_CLASSES, "funds": schemas.FUNDS,
                 "fund_allocations": schemas.FUND_ALLOCATIONS, "quarantine": schemas.QUARANTINE}

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
SNAKE = {**schemas.RAW_FLOWS}


@dataclass(frozen=True)
class IdentityTolerance:
    """|AssetsEnd - (AssetsStart + Flow + PortfolioChange + forex_sign x ForexChange)| above
    max(abs_usd, rel x |AssetsStart|) is an identity break (flagged, not dropped)."""
    abs_usd: float = 1.0
    rel: float = 1e-6
    forex_sign: int = 1

    def describe(self) -> str:
        sign = "+" if self.forex_sign >= 0 else "-"
        return (f"|AssetsEnd - (AssetsStart + Flow + PortfolioChange {sign} ForexChange)| > "
                f"max({self.abs_usd:g}, {self.rel:g} x AssetsStart)")


# --------------------------------------------------------------------------------------------
# Column helpers (no Python UDFs: everything below is a Spark expression)


def is_flow_date_col(d: Column) -> Column:
    """The flow calendar as a Column: weekdays except 1 January and 25 December."""
    dow, m, day = F.dayofweek(d), F.month(d), F.dayofmonth(d)
    return (dow.between(2, 6) & ~((m == 1) & (day == 1)) & ~((m == 12) & (day == 25)))


def _r(vendor: str) -> str:
    """Name of the raw (as read) column of a vendor column inside the pipeline."""
    return f"r__{vendor}"


def _rc(vendor: str) -> Column:
    return F.col(f"`{_r(vendor)}`")


def _dtype(df: DataFrame, vendor: str) -> T.DataType:
    return df.schema[_r(vendor)].dataType


def _as_text(c: Column, dtype: T.DataType) -> Column:
    """Trimmed text, NULL when blank."""
    s = F.trim(c if isinstance(dtype, T.StringType) else c.cast("string"))
    return F.when(s != F.lit(""), s)


def _blank(c: Column, dtype: T.DataType) -> Column:
    return _as_text(c, dtype).isNull()


def _finite(x: Column) -> Column:
    return F.when(~F.isnan(x) & (F.abs(x) != F.lit(float("inf"))), x)


def _as_double(c: Column, dtype: T.DataType) -> Column:
    if isinstance(dtype, T.NumericType):
        return _finite(c.cast("double"))
    return _finite(_as_text(c, dtype).try_cast("double"))


def _as_date(c: Column, dtype: T.DataType) -> Column:
    if isinstance(dtype, T.DateType):
        d = c
    elif isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        d = F.to_date(c)
    else:
        s = _as_text(c, dtype)
        d = F.coalesce(F.try_to_date(s, "yyyy-M-d"), F.try_to_date(s, "yyyyMMdd"))
    return F.when(d.between(F.lit(MIN_DATE), F.lit(MAX_DATE)), d)


def _as_bool(c: Column, dtype: T.DataType) -> Column:
    if isinstance(dtype, T.BooleanType):
        return c
    s = F.lower(_as_text(c, dtype))
    return F.when(s.isin(*TRUE_WORDS), F.lit(True)).when(s.isin(*FALSE_WORDS), F.lit(False))


def _shown(c: Column) -> Column:
    """A raw value for a detail message."""
    return F.coalesce(c.cast("string"), F.lit("NULL"))


def _row_json(vendors: list[str]) -> Column:
    """The row as read, as JSON with the vendor's column names (nulls kept)."""
    return F.to_json(F.struct(*[_rc(v).alias(v) for v in vendors]),
                     {"ignoreNullFields": "false"})


def first_reason(rules: list[tuple[Column, str, Column]]) -> tuple[Column, Column]:
    """(reason, detail) Columns: the first rule whose condition holds, else NULL."""
    reason = detail = None
    for cond, code, det in rules:
        cond = F.coalesce(cond, F.lit(False))
        if reason is None:
            reason, detail = F.when(cond, F.lit(code)), F.when(cond, det)
        else:
            reason, detail = reason.when(cond, F.lit(code)), detail.when(cond, det)
    return reason, detail


# --------------------------------------------------------------------------------------------
# Pure transforms: raw (r__<Vendor> columns + _source_file) -> parsed -> classified


FLOW_NUMBERS = ("Flow", "AssetsStart", "AssetsEnd", "PortfolioChange", "ForexChange")


def parse_flows(raw: DataFrame, tol: IdentityTolerance = IdentityTolerance()) -> DataFrame:
    """Typed silver columns beside the raw ones, one boolean per row-level check, and the
    identity flags. Built in layers so that every trim / cast / date parse runs once per row
    (the checks read the parsed columns, never re-parse the raw text)."""
    t = {v: _dtype(raw, v) for v in schemas.RAW_FLOWS}
    text = {v: f"_t_{v}" for v in schemas.RAW_FLOWS}

    def is_str(v):
        return isinstance(t[v], T.StringType)

    # 1: trimmed text (NULL when blank) of the string columns
    df = raw.select("*", *[_as_text(_rc(v), t[v]).alias(text[v])
                           for v in schemas.RAW_FLOWS if is_str(v)])

    def src(v):
        return F.col(text[v]) if is_str(v) else _rc(v)

    # 2: casts
    rd = src("ReportDate")
    if is_str("ReportDate"):
        date0 = F.coalesce(F.try_to_date(rd, "yyyy-M-d"), F.try_to_date(rd, "yyyyMMdd"))
    else:
        date0 = _as_date(rd, t["ReportDate"])
    df = df.select("*", date0.alias("_d0"),
                   *[(src(v).try_cast("double") if is_str(v) or not
                      isinstance(t[v], T.NumericType) else src(v).cast("double")).alias(f"_x_{v}")
                     for v in FLOW_NUMBERS])
    # 3: range / finiteness, blanks
    d0 = F.col("_d0")
    df = df.select(
        "*",
        F.when(d0.between(F.lit(MIN_DATE), F.lit(MAX_DATE)), d0).alias("flow_date"),
        src("ShareId").cast("string").alias("share_id"),
        src("FundId").cast("string").alias("fund_id"),
        *[F.when(F.col(f"_x_{v}") - F.col(f"_x_{v}") == F.lit(0.0), F.col(f"_x_{v}"))
          .alias(SNAKE[v]) for v in FLOW_NUMBERS],
        *[src(v).isNull().alias(f"_blank_{v}") for v in schemas.RAW_FLOWS])
    # 4: the checks and the identity
    start, flow, end = F.col("assets_start"), F.col("flow"), F.col("assets_end")
    pc, fx = F.col("portfolio_change"), F.col("forex_change")
    sign = float(tol.forex_sign)
    limit = F.greatest(F.lit(tol.abs_usd), F.lit(tol.rel) * F.abs(start))
    diff = end - (start + flow + pc + F.lit(sign) * fx)
    diff_flipped = end - (start + flow + pc - F.lit(sign) * fx)
    brk = F.coalesce(F.abs(diff) > limit, F.lit(False))
    bad = {v: ~F.col(f"_blank_{v}") & F.col(SNAKE[v]).isNull() for v in FLOW_NUMBERS}
    df = df.select(
        *[c for c in raw.columns], "flow_date", "share_id", "fund_id",
        *[SNAKE[v] for v in FLOW_NUMBERS],
        brk.alias("identity_break"),
        F.trunc(F.col("flow_date"), "MM").alias("flow_month"),
        (end.isNull() | pc.isNull() | fx.isNull()).alias("_identity_unchecked"),
        (brk & F.coalesce(F.abs(diff_flipped) <= limit, F.lit(False))).alias("_fx_flip_ok"),
        (F.col("_blank_ReportDate") | F.col("_blank_ShareId") | F.col("_blank_FundId"))
        .alias("_key_blank"),
        F.coalesce(~is_flow_date_col(F.col("flow_date")), F.lit(False)).alias("_not_flow_date"),
        (F.col("_blank_Flow") | F.col("_blank_AssetsStart")).alias("_value_blank"),
        *[bad[v].alias(f"_bad_{v}") for v in FLOW_NUMBERS],
        F.coalesce(start < 0, F.lit(False)).alias("_negative_start"),
    )
    return df


def flow_rules() -> list[tuple[Column, str, Column]]:
    """(condition, reason, detail) in order, over parse_flows' columns joined with the
    duplicate counts (_dup_n) and the share-class reference (_ref_fund_id)."""
    keys = ["ReportDate", "ShareId", "FundId"]
    blank_keys = F.concat(F.lit("blank: "), F.concat_ws(", ", *[
        F.when(_rc(v).isNull() | (F.trim(_rc(v).cast("string")) == ""), F.lit(v))
        for v in keys]))
    blank_values = F.concat(F.lit("blank: "), F.concat_ws(", ", *[
        F.when(~F.col(f"_bad_{v}") & F.col(SNAKE[v]).isNull(), F.lit(v))
        for v in ("Flow", "AssetsStart")]))
    bad_numbers = F.concat_ws("; ", *[
        F.when(F.col(f"_bad_{v}"), F.concat(F.lit(f"{v}="), _shown(_rc(v))))
        for v in FLOW_NUMBERS])
    return [
        (F.col("_key_blank"), MISSING_KEY, blank_keys),
        (F.col("flow_date").isNull(), UNPARSEABLE_DATE,
         F.concat(F.lit("ReportDate="), _shown(_rc("ReportDate")))),
        (F.col("_not_flow_date"), NOT_FLOW_DATE,
         F.concat(F.lit("ReportDate="), F.date_format("flow_date", "yyyy-MM-dd EEEE"))),
        (F.col("_value_blank"), MISSING_VALUE, blank_values),
        (reduce(lambda a, b: a | b, [F.col(f"_bad_{v}") for v in FLOW_NUMBERS]),
         UNPARSEABLE_NUMBER, bad_numbers),
        (F.col("_negative_start"), NEGATIVE_ASSETS_START,
         F.concat(F.lit("AssetsStart="), _shown(_rc("AssetsStart")))),
        (F.col("_dup_n").isNotNull(), DUPLICATE_KEY,
         F.concat(F.col("_dup_n").cast("string"), F.lit(" rows share ReportDate="),
                  F.col("flow_date").cast("string"), F.lit(", ShareId="), F.col("share_id"))),
        (F.col("_ref_fund_id").isNull(), UNKNOWN_SHARE_CLASS,
         F.concat(F.lit("ShareId="), F.col("share_id"),
                  F.lit(" not in share_classes (this batch or the table)"))),
        (F.col("_ref_fund_id") != F.col("fund_id"), FUND_MISMATCH,
         F.concat(F.lit("FundId="), F.col("fund_id"), F.lit(" but share class "),
                  F.col("share_id"), F.lit(" belongs to "), F.col("_ref_fund_id"))),
    ]


def flow_key_hash() -> Column:
    """64-bit hash of the key (flow_date, share_id); NULL when either part is."""
    return F.when(F.col("flow_date").isNotNull() & F.col("share_id").isNotNull(),
                  F.xxhash64("flow_date", "share_id"))


def classify_flows(parsed: DataFrame, dups: DataFrame, share_class_ref: DataFrame) -> DataFrame:
    """Adds _reason/_detail. dups: (_key_hash, _dup_n) of keys known collision-free, or
    (flow_date, share_id, _dup_n); share_class_ref: (share_id, _ref_fund_id), unique share_id."""
    if "_key_hash" in dups.columns:
        df = parsed.withColumn("_key_hash", flow_key_hash()).join(dups, "_key_hash", "left")
    else:
        df = parsed.join(dups, ["flow_date", "share_id"], "left")
    df = df.join(share_class_ref, "share_id", "left")
    reason, detail = first_reason(flow_rules())
    return df.withColumns({"_reason": reason, "_detail": detail})


def flow_key_pass(parsed: DataFrame, share_class_ref: DataFrame, max_dups: int,
                  partitions: int | None = None) -> DataFrame:
    """ONE pass over the flows for what must be known before writing: rows read, the
    duplicated keys (at most max_dups + 1 of them) and the accepted window.

    The rows are grouped by a 64-bit hash of the key (a long: a compact shuffle and an
    in-memory hash map), `partitions` ways without map-side partial aggregation (the keys are
    nearly all distinct: it would only spill). A group whose rows differ in flow_date or in a
    second hash of share_id is a hash collision (kind 'd', _collision true): the caller then
    falls back to exact keys.

    Rows: kind 'd' (_key_hash, _dup_n, _collision) per group of more than one row, and one
    kind 's' row (total rows, lo/hi = accepted window, n_dup_keys, n_collisions, ok_rows =
    rows that will be accepted, and among those the identity breaks / unchecked rows / breaks
    gone with ForexChange's sign flipped). Both branches share the aggregation (Spark reuses
    its exchange), so the input is read and shuffled once.
    """
    row_ok = ~reduce(lambda a, b: a | b, [
        F.coalesce(c, F.lit(False)) for c, code, _ in flow_rules() if code != DUPLICATE_KEY])
    flags = ("identity_break", "_identity_unchecked", "_fx_flip_ok")
    p = (parsed.join(share_class_ref, "share_id", "left")
               .select(flow_key_hash().alias("_key_hash"), "flow_date",
                       F.xxhash64(F.lit("share"), "share_id").alias("_h2"),
                       row_ok.cast("int").alias("_ok"),
                       *[F.col(c).cast("int").alias(c) for c in flags]))
    if partitions:
        p = p.repartition(partitions, "_key_hash")
    g = p.groupBy("_key_hash").agg(
        F.count(F.lit(1)).alias("_n"), F.max("_ok").alias("_ok"),
        F.min("flow_date").alias("_d_lo"), F.max("flow_date").alias("_d_hi"),
        F.min("_h2").alias("_h2_lo"), F.max("_h2").alias("_h2_hi"),
        *[F.max(c).alias(c) for c in flags])
    valid = F.col("_key_hash").isNotNull()
    collision = valid & ((F.col("_d_lo") != F.col("_d_hi")) | (F.col("_h2_lo") != F.col("_h2_hi")))
    single_ok = valid & (F.col("_n") == 1) & (F.col("_ok") == 1)
    null_long, null_date = F.lit(None).cast("long"), F.lit(None).cast("date")
    stat_cols = ["total", "lo", "hi", "n_dup_keys", "n_collisions", "ok_rows",
                 *[f"ok{c}" for c in flags]]
    # Both branches must plan the same aggregation for Spark to reuse its exchange: the dup
    # branch's filter reads every aggregated column (else pruning changes its aggregation) and
    # mixes the key test with the count (else it is pushed below the aggregation).
    every = reduce(lambda a, b: a + b, [F.coalesce(F.col(c), F.lit(0)) for c in ("_ok", *flags)])
    dup_part = (g.where(F.when(valid & (every >= 0), F.col("_n")) > 1)
                 .select(F.lit("d").alias("kind"), "_key_hash", F.col("_n").alias("_dup_n"),
                         F.coalesce(collision, F.lit(False)).alias("_collision"),
                         *[(null_date if c in ("lo", "hi") else null_long).alias(c)
                           for c in stat_cols])
                 .limit(max_dups + 1))
    stat_part = g.agg(
        F.sum("_n").alias("total"),
        F.min(F.when(single_ok, F.col("_d_lo"))).alias("lo"),
        F.max(F.when(single_ok, F.col("_d_lo"))).alias("hi"),
        F.sum(F.when(valid & (F.col("_n") > 1), F.lit(1))).cast("long").alias("n_dup_keys"),
        F.sum(F.when(collision, F.lit(1))).cast("long").alias("n_collisions"),
        F.sum(F.when(single_ok, F.lit(1))).cast("long").alias("ok_rows"),
        *[F.sum(F.when(single_ok, F.col(c))).cast("long").alias(f"ok{c}") for c in flags])
    stat_part = stat_part.select(F.lit("s").alias("kind"), null_long.alias("_key_hash"),
                                 null_long.alias("_dup_n"), F.lit(False).alias("_collision"),
                                 *stat_cols)
    return dup_part.unionByName(stat_part)


def parse_funds(raw: DataFrame) -> DataFrame:
    t = {v: _dtype(raw, v) for v in schemas.RAW_FUNDS}
    txt = {v: _as_text(_rc(v), t[v]) for v in schemas.RAW_FUNDS}
    return raw.select(
        "*",
        txt["FundId"].alias("fund_id"), txt["AssetClass"].alias("asset_class"),
        txt["GeographicFocus"].alias("geographic_focus"),
        _as_bool(_rc("CrossBorder"), t["CrossBorder"]).alias("cross_border"),
        F.upper(txt["Domicile"]).alias("domicile"),
        txt["ActivePassive"].alias("active_passive"), txt["Vehicle"].alias("vehicle"))


def classify_funds(parsed: DataFrame, dups: DataFrame) -> DataFrame:
    t = {v: _dtype(parsed, v) for v in schemas.RAW_FUNDS}
    df = parsed.join(dups, ["fund_id"], "left")
    reason, detail = first_reason([
        (_blank(_rc("FundId"), t["FundId"]), MISSING_KEY, F.lit("blank: FundId")),
        (~_blank(_rc("CrossBorder"), t["CrossBorder"]) & F.col("cross_border").isNull(),
         UNPARSEABLE_BOOLEAN, F.concat(F.lit("CrossBorder="), _shown(_rc("CrossBorder")))),
        (F.col("_dup_n").isNotNull(), DUPLICATE_KEY,
         F.concat(F.col("_dup_n").cast("string"), F.lit(" rows share FundId="),
                  F.col("fund_id"))),
    ])
    return df.withColumns({"_reason": reason, "_detail": detail})


def parse_share_classes(raw: DataFrame) -> DataFrame:
    t = {v: _dtype(raw, v) for v in schemas.RAW_SHARE_CLASSES}
    return raw.select(
        "*",
        _as_text(_rc("ShareId"), t["ShareId"]).alias("share_id"),
        _as_text(_rc("FundId"), t["FundId"]).alias("fund_id"),
        _as_text(_rc("InvestorType"), t["InvestorType"]).alias("investor_type"))


def classify_share_classes(parsed: DataFrame, dups: DataFrame, fund_ref: DataFrame) -> DataFrame:
    """fund_ref: (fund_id, _fund_known) with unique fund_id."""
    t = {v: _dtype(parsed, v) for v in schemas.RAW_SHARE_CLASSES}
    df = parsed.join(dups, ["share_id"], "left").join(fund_ref, "fund_id", "left")
    blank = {v: _blank(_rc(v), t[v]) for v in ("ShareId", "FundId")}
    reason, detail = first_reason([
        (blank["ShareId"] | blank["FundId"], MISSING_KEY,
         F.concat(F.lit("blank: "),
                  F.concat_ws(", ", *[F.when(b, F.lit(v)) for v, b in blank.items()]))),
        (F.col("_dup_n").isNotNull(), DUPLICATE_KEY,
         F.concat(F.col("_dup_n").cast("string"), F.lit(" rows share ShareId="),
                  F.col("share_id"))),
        (F.col("_fund_known").isNull(), UNKNOWN_FUND,
         F.concat(F.lit("FundId="), F.col("fund_id"),
                  F.lit(" not in funds (this batch or the table)"))),
    ])
    return df.withColumns({"_reason": reason, "_detail": detail})


def allocation_records(raw: DataFrame, layout: str, headers: list[str]) -> DataFrame:
    """Wide lines or long rows -> one record per (fund, month, country) value.

    Columns: _source_file, r__ReportDate, r__FundId, (long: r__Allocation), _line_first (true
    on exactly one record of each input line), _header (the column or Country as read),
    _value (the value's text), country, fund_id, report_date, alloc_month, allocation_pct.
    Wide: blank and zero cells are dropped; a line with no other cell gives one empty record
    (_header NULL) so that its key is still checked and counted. The wide layout is unpivoted
    (Spark's Expand, code-generated) and filtered; per-cell higher-order functions measured
    3-5x slower on the medium data set.
    """
    t_rd, t_fid = _dtype(raw, "ReportDate"), _dtype(raw, "FundId")
    report_date = _as_date(_rc("ReportDate"), t_rd)
    line_cols = [report_date.alias("report_date"),
                 _as_text(_rc("FundId"), t_fid).alias("fund_id")]
    if layout == "wide":
        def kept(text: Column) -> Column:
            return text.isNotNull() & ~F.coalesce(text.try_cast("double") == F.lit(0.0),
                                                  F.lit(False))
        # Per line, before the unpivot: the keys and every cell's trimmed text (a Spark 4.2
        # codegen bug fails to compile common subexpressions after a wide Expand), and the
        # line's first kept column (NULL: nothing to keep)
        texts = [_as_text(_rc(h), _dtype(raw, h)).alias(f"_c_{i}") for i, h in enumerate(headers)]
        lines = raw.select("_source_file", _rc("ReportDate"), _rc("FundId"), *line_cols, *texts)
        first = F.coalesce(*[F.when(kept(F.col(f"_c_{i}")), F.lit(h))
                             for i, h in enumerate(headers)])
        lines = lines.select("*", first.alias("_first"))
        ids = ["_source_file", _r("ReportDate"), _r("FundId"), "report_date", "fund_id",
               "_first"]
        cells = lines.select(*ids, F.posexplode(F.array(*[
            F.struct(F.lit(h).alias("h"), F.col(f"_c_{i}").alias("v"))
            for i, h in enumerate(headers)])).alias("_i", "_c"))
        cells = cells.select(*ids, "_i", F.col("_c.h").alias("_name"),
                             F.col("_c.v").alias("_value"))
        empty_line = F.col("_first").isNull()
        rec = cells.where(kept(F.col("_value")) | (empty_line & (F.col("_i") == 0)))
        rec = rec.select(*ids, (empty_line | (F.col("_name") == F.col("_first")))
                         .alias("_line_first"),
                         F.when(~empty_line, F.col("_name")).alias("_header"),
                         F.when(~empty_line, F.col("_value")).alias("_value"))
        rec = rec.select("*", F.col("_value").try_cast("double").alias("_x"))
        extra = []
    else:
        t_val = _dtype(raw, "Allocation")
        rec = raw.select("_source_file", _rc("ReportDate"), _rc("FundId"), _rc("Allocation"),
                         *line_cols, F.lit(True).alias("_line_first"),
                         _rc("Country").cast("string").alias("_header"),
                         _as_text(_rc("Allocation"), t_val).alias("_value"),
                         (_rc("Allocation").cast("double")
                          if isinstance(t_val, T.NumericType)
                          else _as_text(_rc("Allocation"), t_val).try_cast("double")).alias("_x"))
        extra = [_rc("Allocation")]
    return rec.select(
        "_source_file", _rc("ReportDate"), _rc("FundId"), *extra, "_line_first", "_header",
        "_value",
        F.upper(F.trim(F.col("_header"))).alias("country"),
        "fund_id", "report_date",
        F.trunc(F.col("report_date"), "MM").alias("alloc_month"),
        F.when(F.col("_x") - F.col("_x") == F.lit(0.0), F.col("_x")).alias("allocation_pct"),
    )


def allocation_content(layout: str) -> Column:
    """A record as read, as JSON: the long row, or the wide line's key and this one cell."""
    if layout == "long":
        return F.to_json(F.struct(_rc("ReportDate").alias("ReportDate"),
                                  _rc("FundId").alias("FundId"),
                                  F.col("_header").alias("Country"),
                                  _rc("Allocation").alias("Allocation")),
                         {"ignoreNullFields": "false"})
    base = [F.lit("ReportDate"), _rc("ReportDate").cast("string"),
            F.lit("FundId"), _rc("FundId").cast("string")]
    return F.to_json(F.when(F.col("_header").isNull(), F.create_map(*base))
                     .otherwise(F.create_map(*base, F.col("_header"), F.col("_value"))))


def _valid_value(df: DataFrame) -> Column:
    v = F.col("allocation_pct")
    return v.isNotNull() & (v >= 0) & (v <= 100)


def allocation_sum_excess(records: DataFrame) -> DataFrame:
    """(fund_id, alloc_month, _alloc_sum) of fund-months whose values sum above 100.5."""
    ok = (F.col("fund_id").isNotNull() & F.col("alloc_month").isNotNull() & _valid_value(records))
    return (records.where(ok).groupBy("fund_id", "alloc_month")
                   .agg(F.sum("allocation_pct").alias("_alloc_sum"))
                   .where(F.col("_alloc_sum") > ALLOCATION_SUM_LIMIT))


def allocation_key_checks(records: DataFrame) -> DataFrame:
    """Wide layout: (fund_id, alloc_month, _lines, _alloc_sum) of the fund-months given by
    more than one line or whose allocations sum above 100.5 (one aggregation for both)."""
    valid_key = F.col("fund_id").isNotNull() & F.col("alloc_month").isNotNull()
    return (records.where(valid_key).groupBy("fund_id", "alloc_month")
                   .agg(F.sum(F.col("_line_first").cast("long")).alias("_lines"),
                        F.sum(F.when(_valid_value(records), F.col("allocation_pct")))
                        .alias("_alloc_sum"))
                   .where((F.col("_lines") > 1)
                          | (F.coalesce(F.col("_alloc_sum"), F.lit(0.0)) > ALLOCATION_SUM_LIMIT)))


def classify_allocations(records: DataFrame, layout: str, known_countries: tuple[str, ...],
                         dups: DataFrame, excess: DataFrame, fund_ref: DataFrame) -> DataFrame:
    """dups: (fund_id, alloc_month[, country], _dup_n); excess: allocation_sum_excess;
    fund_ref: (fund_id, _fund_known)."""
    dup_keys = ["fund_id", "alloc_month"] + (["country"] if layout == "long" else [])
    df = (records.join(dups, dup_keys, "left")
                 .join(excess, ["fund_id", "alloc_month"], "left")
                 .join(fund_ref, "fund_id", "left"))
    blank_rd = _as_text(_rc("ReportDate").cast("string"), T.StringType()).isNull()
    blank_fid = F.col("fund_id").isNull()
    blank_key = blank_rd | blank_fid
    names = [F.when(blank_rd, F.lit("ReportDate")), F.when(blank_fid, F.lit("FundId"))]
    if layout == "long":
        blank_key = blank_key | F.col("country").isNull() | (F.col("country") == "")
        names.append(F.when(F.col("country").isNull() | (F.col("country") == ""),
                            F.lit("Country")))
    has_cell = F.col("_header").isNotNull()
    cell = F.concat(F.coalesce(F.col("_header"), F.lit("")), F.lit("="),
                    F.coalesce(F.col("_value"), F.lit("")))
    reason, detail = first_reason([
        (blank_key, MISSING_KEY, F.concat(F.lit("blank: "), F.concat_ws(", ", *names))),
        (F.col("report_date").isNull(), UNPARSEABLE_DATE,
         F.concat(F.lit("ReportDate="), _shown(_rc("ReportDate")))),
        (has_cell & ~F.col("country").isin(*known_countries), UNKNOWN_COUNTRY,
         F.concat(F.lit("country "), F.col("_header"), F.lit(" not among the known codes"))),
        (has_cell & F.col("_value").isNull(), MISSING_VALUE, F.lit("blank: Allocation")),
        (has_cell & F.col("allocation_pct").isNull(), UNPARSEABLE_NUMBER, cell),
        (has_cell & ~_valid_value(df), ALLOCATION_OUT_OF_RANGE, cell),
        (F.col("_dup_n").isNotNull(), DUPLICATE_KEY,
         F.concat(F.col("_dup_n").cast("string"),
                  F.lit(" lines share FundId=" if layout == "wide" else " rows share FundId="),
                  F.col("fund_id"), F.lit(", month "),
                  F.date_format("alloc_month", "yyyy-MM"),
                  *([F.lit(", Country="), F.col("country")] if layout == "long" else []))),
        (F.col("_alloc_sum").isNotNull(), ALLOCATION_SUM_ABOVE_100_5,
         F.concat(F.lit("FundId="), F.col("fund_id"), F.lit(", month "),
                  F.date_format("alloc_month", "yyyy-MM"), F.lit(": allocations sum to "),
                  F.format_number(F.col("_alloc_sum"), 4), F.lit(" > 100.5"))),
        (F.col("_fund_known").isNull(), UNKNOWN_FUND,
         F.concat(F.lit("FundId="), F.col("fund_id"),
                  F.lit(" not in funds (this batch or the table)"))),
    ])
    stored = has_cell & (F.col("allocation_pct") > 0)
    return df.withColumns({"_reason": reason, "_detail": detail,
                           "_stored": F.coalesce(stored, F.lit(False))})


def duplicate_keys(df: DataFrame, keys: list[str]) -> DataFrame:
    """(keys..., _dup_n) of the non-NULL keys occurring more than once."""
    valid = reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keys])
    return (df.where(valid).groupBy(*keys).agg(F.count(F.lit(1)).alias("_dup_n"))
              .where(F.col("_dup_n") > 1))


# --------------------------------------------------------------------------------------------
# Inputs: locate, detect the format, check the columns of every file (before any write)


@dataclass
class RawInput:
    source: str
    path: str                   # as given
    uri: str                    # canonical URI of the path (source_file prefix)
    is_dir: bool
    fmt: str                    # csv | parquet
    files: list[str]            # canonical URIs of the data files
    columns: list[str]          # columns common to the files (first file's order)
    layout: str = ""            # allocations: wide | long
    ignored_files: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    merge_schema: bool = False
    bytes: int = 0              # total size of the data files


def canonical_uri(uri: str) -> str:
    """One spelling per file: Hadoop writes file:/x and file:///x for the same local file."""
    return re.sub(r"^file:/+", "file:///", uri)


def _canonical_col(c: Column) -> Column:
    return F.regexp_replace(c, r"^file:/+", "file:///")


def _suffix_format(name: str) -> str | None:
    n = name.lower()
    if n.endswith(CSV_SUFFIXES):
        return "csv"
    if n.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _hadoop_files(spark: SparkSession, source: str, path: str):
    """(canonical uri of path, is_dir, [(uri, local path or None, length, name)])."""
    sc = spark.sparkContext
    jvm = sc._jvm
    try:
        jp = jvm.org.apache.hadoop.fs.Path(path)
        fs = jp.getFileSystem(sc._jsc.hadoopConfiguration())
        if not fs.exists(jp):
            raise InputError(f"{source}: {path}: no such file or directory")
        q = fs.makeQualified(jp)
        status = fs.getFileStatus(q)
        base = canonical_uri(q.toUri().toString())

        def info(st):
            u = st.getPath().toUri()
            local = u.getPath() if (u.getScheme() or "file") == "file" else None
            return canonical_uri(u.toString()), local, st.getLen(), st.getPath().getName()

        if not status.isDirectory():
            return base, False, [info(status)]
        out = []
        it = fs.listFiles(q, True)
        while it.hasNext():
            st = it.next()
            u = canonical_uri(st.getPath().toUri().toString())
            rel = u[len(base):].lstrip("/")
            if any(part.startswith(("_", ".")) for part in rel.split("/")):
                continue  # _SUCCESS, _delta_log, .crc ...: never data
            out.append(info(st))
        return base, True, sorted(out)
    except InputError:
        raise
    except Exception as exc:  # py4j errors from the file system
        raise InputError(f"{source}: {path}: cannot be read: {_short(exc)}") from exc


def _short(exc: BaseException, limit: int = 600) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith("at ")][:6]
    return " | ".join(keep)[:limit]


def _open_text(local: str):
    if local.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(local, "rb"), encoding="utf-8", newline="")
    if local.lower().endswith(".bz2"):
        return io.TextIOWrapper(bz2.open(local, "rb"), encoding="utf-8", newline="")
    return open(local, encoding="utf-8", newline="")


def _csv_header(source: str, uri: str, local: str) -> list[str]:
    try:
        with _open_text(local) as fh:
            sep = "\t" if local.lower().endswith(".tsv") else ","
            row = next(csv.reader(fh, delimiter=sep), None)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise InputError(f"{source}: {uri}: unreadable: {exc}") from exc
    if not row:
        raise InputError(f"{source}: {uri}: no header line (empty file)")
    if row[0].startswith("\ufeff"):
        raise InputError(f"{source}: {uri}: starts with a byte-order mark; save it as UTF-8 "
                         f"without BOM")
    return row


def _parquet_columns(source: str, uri: str, local: str) -> list[str]:
    import pyarrow.parquet as pq
    try:
        return list(pq.read_schema(local).names)
    except Exception as exc:
        raise InputError(f"{source}: {uri}: unreadable Parquet file: {exc}") from exc


def _require(source: str, where: str, columns: list[str], required: tuple[str, ...]) -> None:
    stripped = [c.strip() for c in columns]
    missing = [c for c in required if c not in stripped]
    if missing:
        raise InputError(f"{source}: {where}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(columns) or 'none'})")
    dup = sorted({c for c in stripped if stripped.count(c) > 1})
    if dup:
        raise InputError(f"{source}: {where}: duplicate column(s) {', '.join(dup)}")


def probe_input(spark: SparkSession, source: str, path: str) -> RawInput:
    """Locate the input, detect its format and layout, check every file's columns."""
    base, is_dir, entries = _hadoop_files(spark, source, path)
    typed = [(e, _suffix_format(e[3])) for e in entries]
    if not is_dir:
        fmt = typed[0][1]
        if fmt is None:
            raise InputError(f"{source}: {path}: unknown file format (want .csv or .parquet)")
        data, ignored = [typed[0][0]], []
    else:
        fmts = {f for _, f in typed if f}
        if not fmts:
            raise InputError(f"{source}: {path}: directory holds no .csv or .parquet file")
        if len(fmts) > 1:
            raise InputError(f"{source}: {path}: directory mixes CSV and Parquet files")
        fmt = fmts.pop()
        data = [e for e, f in typed if f == fmt]
        ignored = [e[0] for e, f in typed if f is None]
        if fmt == "csv":
            data = [e for e in data if e[2] > 0] or data[:1]  # empty part files hold nothing
    columns: list[str] | None = None
    merge = False
    for uri, local, length, _name in data:
        if local is None:
            continue  # remote: checked on the Spark schema below (and by Spark per file)
        cols = (_csv_header(source, uri, local) if fmt == "csv"
                else _parquet_columns(source, uri, local))
        _require(source, uri, cols, _required_for(source, cols))
        if columns is None:
            columns = cols
        elif cols != columns:
            if fmt == "csv":
                raise InputError(f"{source}: {uri}: header differs from {data[0][0]}'s "
                                 f"({', '.join(cols)} vs {', '.join(columns)})")
            merge = True
    files = [e[0] for e in data]
    if columns is None:  # no local file: ask Spark for the schema
        try:
            if fmt == "csv":
                columns = spark.read.option("header", "true").csv(files).columns
            else:
                columns = spark.read.option("mergeSchema", "true").parquet(*files).columns
                merge = True
        except Exception as exc:
            raise InputError(f"{source}: {path}: unreadable: {_short(exc)}") from exc
        _require(source, path, columns, _required_for(source, columns))
    layout = ""
    if source == "allocations":
        layout = "long" if {"Country", "Allocation"} <= {c.strip() for c in columns} else "wide"
        if layout == "wide" and len(columns) <= 2:
            raise InputError(f"{source}: {path}: no country columns (wide layout wants "
                             f"ReportDate, FundId, <ISO2 columns>; long wants "
                             f"{', '.join(LONG_ALLOCATION_COLUMNS)})")
    if layout == "wide":
        codes = [c.strip().upper() for c in columns if c.strip() not in REQUIRED[source]]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise InputError(f"{source}: {path}: country column(s) given twice: "
                             f"{', '.join(twice)}")
    wanted = set(_required_for(source, columns))
    ignored_cols = ([] if layout == "wide"
                    else [c for c in columns if c.strip() not in wanted])
    return RawInput(source, path, base, is_dir, fmt, files, columns, layout, ignored,
                    ignored_cols, merge, sum(int(e[2]) for e in data))


def _required_for(source: str, columns: list[str]) -> tuple[str, ...]:
    if source == "allocations" and {"Country", "Allocation"} <= {c.strip() for c in columns}:
        return LONG_ALLOCATION_COLUMNS
    return REQUIRED[source]


def read_raw(spark: SparkSession, inp: RawInput) -> DataFrame:
    """Every needed column as read (CSV: strings; Parquet: native types) as r__<Vendor>,
    plus _source_file (canonical URI of the file the row came from)."""
    if inp.fmt == "csv":
        schema = T.StructType([T.StructField(c, T.StringType()) for c in inp.columns])
        reader = (spark.read.format("csv").schema(schema)
                  .options(header="true", enforceSchema="false", mode="PERMISSIVE",
                           multiLine="false"))
        if any(f.lower().endswith(".tsv") for f in inp.files):
            reader = reader.option("sep", "\t")
        df = reader.load(inp.files)
    else:
        df = spark.read.format("parquet").option("mergeSchema", str(inp.merge_schema).lower())
        df = df.load(inp.files)
    if inp.layout == "wide":
        vendors = [c for c in df.columns]
    else:
        wanted = _required_for(inp.source, inp.columns)
        vendors = [c for c in df.columns if c.strip() in wanted]
    cols = [F.col(f"`{c}`").alias(_r(c.strip())) for c in vendors]
    return df.select(*cols, _canonical_col(F.col("_metadata.file_path")).alias("_source_file"))


def resolve_inputs(directory: str | None = None, flows: str | None = None,
                   share_classes: str | None = None, funds: str | None = None,
                   allocations: str | None = None, exists=None) -> dict[str, str]:
    """Paths per source: explicit ones win; a directory adds <name>.csv, <name>.parquet,
    <name>/ or <name>.csv.gz for the sources not given explicitly."""
    import os
    exists = exists or os.path.exists
    given = {"flows": flows, "share_classes": share_classes, "funds": funds,
             "allocations": allocations}
    paths = {k: v for k, v in given.items() if v}
    if directory:
        if not exists(directory):
            raise InputError(f"input directory {directory}: not found")
        for name in given:
            if name in paths:
                continue
            for cand in (f"{name}.csv", f"{name}.parquet", name, f"{name}.csv.gz"):
                p = f"{directory.rstrip('/')}/{cand}"
                if exists(p):
                    paths[name] = p
                    break
    if not paths:
        raise InputError("nothing to ingest: give --input DIR or at least one of --flows, "
                         "--share-classes, --funds, --allocations"
                         + (f" ({directory} holds none of flows, share_classes, funds, "
                            "allocations)" if directory else ""))
    return paths


def _hadoop_exists(spark: SparkSession, path: str) -> bool:
    sc = spark.sparkContext
    try:
        jp = sc._jvm.org.apache.hadoop.fs.Path(path)
        return bool(jp.getFileSystem(sc._jsc.hadoopConfiguration()).exists(jp))
    except Exception:
        return False


# --------------------------------------------------------------------------------------------
# The report


@dataclass
class SourceReport:
    source: str
    table: str
    inputs: list[str]
    fmt: str
    files: int
    layout: str = ""
    read: int = 0                    # units read (see the module docstring)
    accepted: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    not_stored: int = 0              # accepted but nothing to store (empty lines, zero values)
    written: int | None = None       # rows added to the silver table by this run's commit
    lines: int | None = None         # wide allocations: input lines
    identity_breaks: int = 0
    identity_unchecked: int = 0
    identity_breaks_ok_if_forex_flipped: int = 0
    window: tuple[dt.date, dt.date] | None = None
    expected_accepted: int | None = None  # flows: from the key pass, checked after the write
    months: list[dt.date] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return self.read == self.accepted + self.quarantined

    def counts(self) -> dict[str, Any]:
        return {"read": self.read, "accepted": self.accepted, "quarantined": self.quarantined,
                "by_reason": dict(self.by_reason)}


@dataclass
class IngestReport:
    run_id: str
    sources: dict[str, SourceReport]
    tolerance: IdentityTolerance
    tables: dict[str, int] = field(default_factory=dict)       # table -> version written
    quarantine_written: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return all(s.reconciled for s in self.sources.values())

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.sources.values())

    def describe(self) -> str:
        out = [f"ingest run {self.run_id}"]
        head = (f"{'source':<14}{'table':<19}{'read':>11}{'accepted':>11}{'quarantined':>12}"
                f"{'written':>11}  check")
        out += [head, "-" * len(head)]
        for s in self.sources.values():
            check = "ok" if s.reconciled else "MISMATCH"
            written = "-" if s.written is None else str(s.written)
            out.append(f"{s.source:<14}{s.table:<19}{s.read:>11}{s.accepted:>11}"
                       f"{s.quarantined:>12}{written:>11}  {check}: read "
                       f"{'=' if s.reconciled else '!='} accepted + quarantined")
        out.append("")
        for s in self.sources.values():
            extra = [f"{s.fmt}, {s.files} file(s)"]
            if s.layout:
                extra.append(f"{s.layout} layout")
            if s.lines is not None:
                extra.append(f"{s.lines} input lines -> {s.read} records")
            if s.not_stored:
                extra.append(f"{s.not_stored} accepted with nothing to store")
            if s.window:
                extra.append(f"window {s.window[0]}..{s.window[1]}")
            if s.months:
                extra.append(f"months {s.months[0]:%Y-%m}..{s.months[-1]:%Y-%m} "
                             f"({len(s.months)})")
            out.append(f"{s.source}: " + "; ".join(extra))
            for r in REASONS:
                if s.by_reason.get(r):
                    out.append(f"    {'quarantined ' + r:<40}{s.by_reason[r]:>10}")
            if s.source == "flows":
                out.append(f"    {'identity breaks (accepted, flagged)':<40}"
                           f"{s.identity_breaks:>10}  [{self.tolerance.describe()}]")
                out.append(f"    {'identity not checkable (blank values)':<40}"
                           f"{s.identity_unchecked:>10}")
                if s.identity_breaks_ok_if_forex_flipped:
                    out.append(f"    {'breaks gone with ForexChange negated':<40}"
                               f"{s.identity_breaks_ok_if_forex_flipped:>10}  (sign convention?)")
            for n in s.notes:
                out.append(f"    note: {n}")
        q = self.quarantined
        qw = "-" if self.quarantine_written is None else str(self.quarantine_written)
        out.append(f"quarantine: {q} row(s) this run, {qw} written")
        if self.tables:
            out.append("tables: " + ", ".join(f"{t} v{v}" for t, v in self.tables.items()))
        for w in self.warnings:
            out.append(f"warning: {w}")
        out.append("counts reconcile: " + ("yes" if self.reconciled else "NO"))
        return "\n".join(out)


# --------------------------------------------------------------------------------------------
# The job


def _materialize(spark: SparkSession, df: DataFrame) -> DataFrame:
    """Compute a key set once (one job). Small sets (the normal case for duplicates, excess
    fund-months, reference ids) come back to the driver and return as a local relation, which
    the planner broadcasts; a big one stays on the executors (local checkpoint)."""
    rows = df.limit(COLLECT_MAX_ROWS + 1).collect()
    if len(rows) <= COLLECT_MAX_ROWS:
        return F.broadcast(spark.createDataFrame(rows, df.schema))
    cp = df.localCheckpoint(eager=True)
    return F.broadcast(cp) if cp.count() <= BROADCAST_MAX_ROWS else cp


def _table_df(spark: SparkSession, settings: Settings, table: str) -> DataFrame | None:
    path = settings.table_path(table)
    return storage.read_table(spark, path) if storage.table_exists(spark, path) else None


def _last_commit(spark: SparkSession, path: str) -> tuple[int, dict[str, str]]:
    """(version, operationMetrics) of the table's newest commit. On a local warehouse the
    commit file is read directly (no Spark job); elsewhere through Delta's history."""
    version = storage.current_version(spark, path)
    local = path[len("file:"):] if path.startswith("file:") else path
    if "://" not in local:
        try:
            with open(f"{local.rstrip('/')}/_delta_log/{version:020d}.json") as fh:
                for line in fh:
                    action = json.loads(line)
                    if "commitInfo" in action:
                        metrics = action["commitInfo"].get("operationMetrics") or {}
                        return version, {k: str(v) for k, v in metrics.items()}
        except OSError:
            pass
    return storage.last_commit(spark, path)


def _written(metrics: dict[str, str]) -> int:
    if "numTargetRowsInserted" in metrics:  # MERGE
        return int(metrics.get("numTargetRowsInserted", 0)) + int(
            metrics.get("numTargetRowsUpdated", 0))
    return int(metrics.get("numOutputRows", 0)) - int(metrics.get("numCopiedRows", 0))


def _reason_counts(rows) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if r["_reason"] is not None:
            out[r["_reason"]] = out.get(r["_reason"], 0) + int(r["n"])
    return {k: out[k] for k in REASONS if k in out}


def _sql_str(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quarantine_frame(cls: DataFrame, table: str, content: Column, run_id: str,
                      at: dt.datetime) -> DataFrame:
    return cls.where(F.col("_reason").isNotNull()).select(
        F.lit(run_id).alias("run_id"), F.lit(table).alias("source_table"),
        F.col("_source_file").alias("source_file"), content.alias("row_content"),
        F.col("_reason").alias("reason"), F.col("_detail").alias("detail"),
        F.lit(at).cast("timestamp").alias("quarantined_at"))


def ingest_paths(spark: SparkSession, settings: Settings, directory: str | None = None,
                 flows: str | None = None, share_classes: str | None = None,
                 funds: str | None = None, allocations: str | None = None, *,
                 run_id: str | None = None,
                 tolerance: IdentityTolerance = IdentityTolerance(),
                 known_countries: tuple[str, ...] | None = None) -> IngestReport:
    """Validate the raw files into the silver tables; returns the report (see describe())."""
    paths = resolve_inputs(directory, flows, share_classes, funds, allocations,
                           exists=lambda p: _hadoop_exists(spark, p))
    inputs = {s: probe_input(spark, s, paths[s]) for s in SOURCES if s in paths}
    known = tuple(known_countries or load_countries().published_order)
    run_id = run_id or uuid.uuid4().hex
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    report = IngestReport(run_id, {}, tolerance)
    for s, inp in inputs.items():
        rep = SourceReport(s, TABLE_OF[s], [inp.path], inp.fmt, len(inp.files), inp.layout)
        if inp.ignored_files:
            rep.notes.append(f"ignored {len(inp.ignored_files)} file(s) that are not "
                             f".csv/.parquet: {', '.join(inp.ignored_files[:5])}")
        if inp.ignored_columns:
            rep.notes.append(f"ignored column(s): {', '.join(inp.ignored_columns)}")
        report.sources[s] = rep

    classified: dict[str, DataFrame] = {}
    contents: dict[str, Column] = {}
    refs: dict[str, DataFrame] = {}
    # ---- phase 1: parse, classify and count everything (reads files; writes nothing)
    current = None
    try:
        for s in SOURCES:
            if s not in inputs:
                continue
            current = s
            _classify_source(spark, settings, s, inputs[s], report.sources[s], known,
                             tolerance, classified, contents, refs)
    except InputError:
        raise
    except Exception as exc:
        msg = str(exc)
        if any(k in msg for k in ("FAILED_READ_FILE", "CANNOT_READ", "does not conform",
                                  "FileNotFound", "not a Parquet file", "footer")):
            raise InputError(f"{current}: {paths.get(current)}: unreadable: "
                             f"{_short(exc)}") from exc
        raise
    bad = [s.source for s in report.sources.values()
           if s.source != "flows" and not s.reconciled]
    if bad:
        raise RuntimeError(f"ingest: counts do not reconcile for {bad} (a bug): "
                           + report.describe())
    # ---- phase 2: write
    _write_all(spark, settings, report, inputs, classified, contents, run_id, started)
    return report


def _refs(spark: SparkSession, settings: Settings, classified: dict[str, DataFrame],
          which: str) -> DataFrame:
    """Known funds (fund_id, _fund_known) or share classes (share_id, _ref_fund_id): the
    batch's accepted rows, then the table's rows the batch does not redefine."""
    if which == "funds":
        batch = (classified["funds"].where(F.col("_reason").isNull()).select("fund_id")
                 if "funds" in classified else None)
        table = _table_df(spark, settings, "funds")
        table = table.select("fund_id") if table is not None else None
        parts = [p for p in (batch, table) if p is not None]
        if not parts:
            return spark.createDataFrame([], "fund_id string, _fund_known boolean")
        ref = reduce(DataFrame.unionByName, parts).distinct()
        return ref.withColumn("_fund_known", F.lit(True))
    batch = (classified["share_classes"].where(F.col("_reason").isNull())
             .select("share_id", "fund_id") if "share_classes" in classified else None)
    table = _table_df(spark, settings, "share_classes")
    table = table.select("share_id", "fund_id") if table is not None else None
    if batch is not None and table is not None:
        ref = batch.unionByName(table.join(batch.select("share_id"), "share_id", "left_anti"))
    elif batch is not None or table is not None:
        ref = batch if batch is not None else table
    else:
        ref = spark.createDataFrame([], "share_id string, fund_id string")
    return ref.withColumnRenamed("fund_id", "_ref_fund_id")


def _key_partitions(spark: SparkSession, inp: RawInput) -> int:
    """Partitions of the flows key pass: about 2M rows each (an in-memory hash map per task),
    estimated from the input's bytes (Parquet ~32 B a row, CSV ~64 B)."""
    per_part = (64 if inp.fmt == "parquet" else 128) * 1024 * 1024
    default = int(spark.conf.get("spark.sql.shuffle.partitions", "200"))
    return max(default, -(-inp.bytes // per_part))


def _fund_ref(spark, settings, classified, refs: dict[str, DataFrame]) -> DataFrame:
    if "funds" not in refs:
        refs["funds"] = _materialize(spark, _refs(spark, settings, classified, "funds"))
    return refs["funds"]


def _classify_source(spark, settings, s, inp, rep, known, tolerance, classified, contents,
                     refs) -> None:
    """Classify one source. Flows: one pass (flow_key_pass); their accepted/quarantined
    counts are taken from the committed tables after the writes (see _count_flows), so that
    100M rows are read three times in all (this pass, the flows write, the quarantine write).
    Other sources are small: counted here with one aggregation."""
    raw = read_raw(spark, inp)
    if s == "flows":
        parsed = parse_flows(raw, tolerance)
        sc_ref = _materialize(spark, _refs(spark, settings, classified, "share_classes"))
        rows = flow_key_pass(parsed, sc_ref, COLLECT_MAX_ROWS,
                             _key_partitions(spark, inp)).collect()
        stat = next(r for r in rows if r["kind"] == "s")
        if (stat["n_dup_keys"] or 0) <= COLLECT_MAX_ROWS and not stat["n_collisions"]:
            dups = F.broadcast(spark.createDataFrame(
                [(r["_key_hash"], r["_dup_n"]) for r in rows if r["kind"] == "d"],
                "_key_hash long, _dup_n long"))
        else:  # a hash collision, or a file repeated twice: exact keys (another pass)
            dups = _materialize(spark, duplicate_keys(parsed, ["flow_date", "share_id"]))
        rep.read = int(stat["total"] or 0)
        rep.expected_accepted = int(stat["ok_rows"] or 0)
        rep.identity_breaks = int(stat["okidentity_break"] or 0)
        rep.identity_unchecked = int(stat["ok_identity_unchecked"] or 0)
        rep.identity_breaks_ok_if_forex_flipped = int(stat["ok_fx_flip_ok"] or 0)
        rep.window = (stat["lo"], stat["hi"]) if stat["lo"] is not None else None
        classified[s] = classify_flows(parsed, dups, sc_ref)
        contents[s] = _row_json(list(schemas.RAW_FLOWS))
        return
    if s == "allocations":
        headers = ([c.strip() for c in inp.columns if c.strip() not in REQUIRED["allocations"]]
                   if inp.layout == "wide" else [])
        unknown_cols = [h for h in headers if h.upper() not in known]
        if unknown_cols:
            rep.notes.append(f"column(s) not among the known country codes: "
                             f"{', '.join(unknown_cols)} (their values: unknown_country)")
        # one record per value, recomputed by each pass (cheaper than caching 20M records:
        # the cache fill measured 2x the whole computation on the medium data set)
        records = allocation_records(raw, inp.layout, headers)
        rep.read = records.count()
        if inp.layout == "wide":
            # a key is one line (its first record stands for it): duplicates and sums come
            # from the same (fund_id, alloc_month) aggregation
            keyset = _materialize(spark, allocation_key_checks(records))
            dups = keyset.where(F.col("_lines") > 1).select(
                "fund_id", "alloc_month", F.col("_lines").alias("_dup_n"))
            excess = keyset.where(F.col("_alloc_sum") > ALLOCATION_SUM_LIMIT).select(
                "fund_id", "alloc_month", "_alloc_sum")
        else:
            dups = _materialize(spark, duplicate_keys(records,
                                                      ["fund_id", "alloc_month", "country"]))
            excess = _materialize(spark, allocation_sum_excess(records))
        fund_ref = _fund_ref(spark, settings, classified, refs)
        cls = classify_allocations(records, inp.layout, known, dups, excess, fund_ref)
        content = allocation_content(inp.layout)
    else:
        rep.read = raw.count()
        if s == "funds":
            parsed = parse_funds(raw)
            dups = _materialize(spark, duplicate_keys(parsed, ["fund_id"]))
            cls = classify_funds(parsed, dups)
            content = _row_json(list(schemas.RAW_FUNDS))
        else:
            parsed = parse_share_classes(raw)
            dups = _materialize(spark, duplicate_keys(parsed, ["share_id"]))
            fund_ref = _fund_ref(spark, settings, classified, refs)
            cls = classify_share_classes(parsed, dups, fund_ref)
            content = _row_json(list(schemas.RAW_SHARE_CLASSES))
    classified[s] = cls
    contents[s] = content

    # one aggregation: counts by reason (allocations: accepted ones by month)
    accepted = F.col("_reason").isNull()
    if s == "allocations":
        rows = (cls.groupBy("_reason", F.when(accepted, F.col("alloc_month")).alias("_k"))
                   .agg(F.count(F.lit(1)).alias("n"),
                        F.sum((~F.col("_stored")).cast("long")).alias("nostore"),
                        F.sum(F.col("_line_first").cast("long")).alias("lines"))
                   .collect())
        if inp.layout == "wide":
            rep.lines = sum(int(r["lines"] or 0) for r in rows)
    else:
        rows = cls.groupBy("_reason").agg(F.count(F.lit(1)).alias("n")).collect()
    rep.by_reason = _reason_counts(rows)
    acc = [r for r in rows if r["_reason"] is None]
    rep.accepted = sum(int(r["n"]) for r in acc)
    rep.quarantined = sum(rep.by_reason.values())
    if s == "allocations":
        rep.not_stored = sum(int(r["nostore"] or 0) for r in acc)
        rep.months = sorted(r["_k"] for r in acc)


def _count_flows(spark: SparkSession, settings: Settings, rep: SourceReport) -> int:
    """Rows per date in the window just written (two columns read back): the accepted count,
    the dates left empty; returns the identity breaks stored (checked against the key pass)."""
    lo, hi = rep.window
    df = storage.read_table(spark, settings.table_path("share_class_flows")).where(
        (F.col("flow_month") >= F.lit(lo.replace(day=1)))
        & (F.col("flow_month") <= F.lit(hi.replace(day=1)))
        & F.col("flow_date").between(F.lit(lo), F.lit(hi)))
    rows = df.groupBy("flow_date").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("identity_break").cast("long")).alias("brk")).collect()
    rep.accepted = sum(int(r["n"]) for r in rows)
    have = {r["flow_date"] for r in rows}
    gaps = [d for d in flow_dates(lo, hi) if d not in have]
    if gaps:
        rep.notes.append(
            f"{len(gaps)} flow date(s) inside the window have no accepted row and are now "
            f"empty in the table: {', '.join(map(str, gaps[:10]))}"
            + (" ..." if len(gaps) > 10 else ""))
    return sum(int(r["brk"] or 0) for r in rows)


def _ensure(spark: SparkSession, settings: Settings, table: str) -> str:
    """Create the table if needed, its CHECK constraints set in the creating commit (the
    `delta.constraints.<name>` table properties that ALTER TABLE ADD CONSTRAINT would write,
    without one extra commit and table scan per constraint)."""
    from delta.tables import DeltaTable
    path = settings.table_path(table)
    if storage.table_exists(spark, path):
        return path
    builder = (DeltaTable.createIfNotExists(spark).location(path)
               .addColumns(TABLE_SCHEMAS[table]))
    if PARTITIONS.get(table):
        builder = builder.partitionedBy(*PARTITIONS[table])
    for name, expr in CONSTRAINTS.get(table, {}).items():
        builder = builder.property(f"delta.constraints.{name}", expr)
    builder.execute()
    return path


def _silver(cls: DataFrame, schema: T.StructType) -> DataFrame:
    return cls.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _upsert(spark: SparkSession, batch: DataFrame, path: str, keys: tuple[str, ...],
            meta: dict[str, Any]) -> bool:
    """Upsert by key, but only the rows that are new or differ (re-ingesting the same file
    commits nothing); an empty table is appended to. Returns whether a commit was made."""
    if storage.current_version(spark, path) == 0:  # just created by _ensure: empty
        storage.append(batch, path, meta)
        return True
    changed = batch.exceptAll(storage.read_table(spark, path).select(*batch.columns))
    if changed.isEmpty():
        return False
    storage.upsert(spark, changed, path, keys, meta)
    return True


def _write_all(spark, settings, report: IngestReport, inputs: dict[str, RawInput],
               classified: dict[str, DataFrame], contents: dict[str, Column], run_id: str,
               started: dt.datetime) -> None:
    meta_base = {"job": JOB, "run_id": run_id,
                 "files": {s: inp.path for s, inp in inputs.items()},
                 "counts": {s: r.counts() for s, r in report.sources.items() if s != "flows"}}
    if "flows" in report.sources:  # the flows' other counts are known once written
        f = report.sources["flows"]
        meta_base["counts"]["flows"] = {"read": f.read, "window": f.window}
    for s in SOURCES:
        if s not in classified:
            continue
        rep = report.sources[s]
        table = TABLE_OF[s]
        cls = classified[s]
        ok = cls.where(F.col("_reason").isNull())
        meta = dict(meta_base, table=table)
        if s in ("funds", "share_classes"):
            if rep.accepted == 0:
                continue
            path = _ensure(spark, settings, table)
            schema = schemas.FUNDS if s == "funds" else schemas.SHARE_CLASSES
            key = ("fund_id",) if s == "funds" else ("share_id",)
            if not _upsert(spark, _silver(ok, schema), path, key, meta):
                rep.written = 0
                report.tables[table] = _last_commit(spark, path)[0]
                continue
        elif s == "allocations":
            if not rep.months:
                continue
            path = _ensure(spark, settings, table)
            months = ", ".join(f"DATE'{m.isoformat()}'" for m in rep.months)
            pred = f"alloc_month IN ({months})"
            meta["replace_where"] = pred
            storage.overwrite_window(_silver(ok.where(F.col("_stored")),
                                             schemas.FUND_ALLOCATIONS), path, pred, meta)
        else:
            if rep.window is None:
                continue
            path = _ensure(spark, settings, table)
            lo, hi = rep.window
            pred = (f"flow_date >= DATE'{lo.isoformat()}' AND flow_date <= DATE'{hi.isoformat()}'"
                    f" AND flow_month >= DATE'{lo.replace(day=1).isoformat()}'"
                    f" AND flow_month <= DATE'{hi.replace(day=1).isoformat()}'")
            meta["replace_where"] = pred
            # each input split's task writes its months (a local sort, no shuffle); see
            # REPARTITION_FLOWS_BY_MONTH for one file per month instead
            out = _silver(ok, schemas.SHARE_CLASS_FLOWS)
            if REPARTITION_FLOWS_BY_MONTH:
                out = out.repartition("flow_month")
            storage.overwrite_window(out, path, pred, meta)
        version, metrics = _last_commit(spark, path)
        rep.written = _written(metrics)
        report.tables[table] = version
        if s == "flows":
            stored_breaks = _count_flows(spark, settings, rep)
            if stored_breaks != rep.identity_breaks:
                report.warnings.append(f"{table}: {stored_breaks} identity breaks stored, the "
                                       f"key pass counted {rep.identity_breaks}")
            if rep.accepted != rep.expected_accepted:
                report.warnings.append(f"{table}: {rep.accepted} rows in the window, the key "
                                       f"pass expected {rep.expected_accepted}")
        expected = rep.accepted - rep.not_stored
        if s in ("flows", "allocations") and rep.written != expected:
            report.warnings.append(f"{table}: wrote {rep.written} rows, expected {expected}")

    # quarantine: replace this run's source files' earlier quarantine rows
    parts, preds = [], []
    for s, inp in inputs.items():
        table = TABLE_OF[s]
        rep = report.sources[s]
        clean = (rep.expected_accepted == rep.read if s == "flows" else rep.quarantined == 0)
        if not clean:  # (a clean source is not read once more)
            parts.append(_quarantine_frame(classified[s], table, contents[s], run_id, started))
        scope = (f"startswith(source_file, {_sql_str(inp.uri.rstrip('/') + '/')})"
                 if inp.is_dir else f"source_file = {_sql_str(inp.uri)}")
        preds.append(f"(source_table = {_sql_str(table)} AND {scope})")
    path = _ensure(spark, settings, "quarantine")
    pred = " OR ".join(preds)
    q = (reduce(DataFrame.unionByName, parts) if parts
         else spark.createDataFrame([], schemas.QUARANTINE))
    storage.overwrite_window(_silver(q, schemas.QUARANTINE), path, pred,
                             dict(meta_base, table="quarantine", replace_where=pred))
    version, metrics = _last_commit(spark, path)
    report.quarantine_written = _written(metrics)
    report.tables["quarantine"] = version
    # what the quarantine table now holds for this run, per source and reason
    held = (storage.read_table(spark, path).where(F.col("run_id") == run_id)
            .groupBy("source_table", "reason").count().collect())
    for s, rep in report.sources.items():
        mine = {r["reason"]: int(r["count"]) for r in held if r["source_table"] == rep.table}
        mine = {k: mine[k] for k in REASONS if k in mine}
        if s == "flows":
            rep.by_reason, rep.quarantined = mine, sum(mine.values())
        elif mine != rep.by_reason:
            report.warnings.append(f"quarantine holds {mine} for {s}, expected {rep.by_reason}")
    if report.quarantine_written != report.quarantined:
        report.warnings.append(f"quarantine: wrote {report.quarantine_written} rows, expected "
                               f"{report.quarantined}")
    for rep in report.sources.values():
        if not rep.reconciled:
            report.warnings.append(f"{rep.source}: read {rep.read} != accepted {rep.accepted} "
                                   f"+ quarantined {rep.quarantined}")
