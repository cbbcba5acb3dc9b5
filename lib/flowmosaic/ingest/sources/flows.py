"""Daily share-class flows: ReportDate, ShareId, FundId, Flow, AssetsStart, AssetsEnd,
PortfolioChange, ForexChange (US$) -> silver share_class_flows (and fund_days, see
ingest/flows.py). A batch replaces the window from its first to its last valid flow date.

The accounting identity AssetsEnd = AssetsStart + Flow + PortfolioChange + ForexChange is
checked within a tolerance; a row that misses it is accepted and flagged (identity_break).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import (
    MAX_DATE,
    MIN_DATE,
    as_date,
    as_text,
    blank_list,
    dtype,
    rc,
    row_json,
    shown,
)
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source, fixed_columns
from flowmosaic.spark.calendar import is_flow_date

COLUMNS = {
    "ReportDate": "flow_date",
    "ShareId": "share_id",
    "FundId": "fund_id",
    "Flow": "flow",
    "AssetsStart": "assets_start",
    "AssetsEnd": "assets_end",
    "PortfolioChange": "portfolio_change",
    "ForexChange": "forex_change",
}
NUMBERS = ("Flow", "AssetsStart", "AssetsEnd", "PortfolioChange", "ForexChange")
KEYS = ("ReportDate", "ShareId", "FundId")


def parse_date(raw: DataFrame) -> Column:
    """ReportDate as a date (NULL when blank, unparseable or outside 1900-2199)."""
    return as_date(rc("ReportDate"), dtype(raw, "ReportDate"))


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    """Typed silver columns beside the raw ones, one boolean per row-level check and the
    identity flags. Built in layers so that every trim / cast / date parse runs once per row
    (the checks read the parsed columns, never re-parse the raw text)."""
    tol = ctx.tolerance
    t = {v: dtype(raw, v) for v in COLUMNS}
    strings = [v for v in COLUMNS if isinstance(t[v], T.StringType)]
    # 1: trimmed text (NULL when blank) of the string columns
    df = raw.select("*", *[as_text(rc(v), t[v]).alias(f"_t_{v}") for v in strings])

    def src(v: str) -> Column:
        return F.col(f"_t_{v}") if v in strings else rc(v)

    # 2: casts
    if "ReportDate" in strings:
        date0 = F.coalesce(
            F.try_to_date(src("ReportDate"), "yyyy-M-d"),
            F.try_to_date(src("ReportDate"), "yyyyMMdd"),
        )
    else:
        date0 = as_date(rc("ReportDate"), t["ReportDate"])
    df = df.select(
        "*",
        date0.alias("_d0"),
        *[
            (
                src(v).try_cast("double")
                if v in strings or not isinstance(t[v], T.NumericType)
                else src(v).cast("double")
            ).alias(f"_x_{v}")
            for v in NUMBERS
        ],
    )
    # 3: range / finiteness, blanks
    d0 = F.col("_d0")
    df = df.select(
        "*",
        F.when(d0.between(F.lit(MIN_DATE), F.lit(MAX_DATE)), d0).alias("flow_date"),
        src("ShareId").cast("string").alias("share_id"),
        src("FundId").cast("string").alias("fund_id"),
        *[
            F.when(F.col(f"_x_{v}") - F.col(f"_x_{v}") == F.lit(0.0), F.col(f"_x_{v}")).alias(
                COLUMNS[v]
            )
            for v in NUMBERS
        ],
        *[src(v).isNull().alias(f"_blank_{v}") for v in COLUMNS],
    )
    # 4: the checks and the identity
    start, flow, end = F.col("assets_start"), F.col("flow"), F.col("assets_end")
    pc, fx = F.col("portfolio_change"), F.col("forex_change")
    sign = float(tol.forex_sign)
    limit = F.greatest(F.lit(tol.abs_usd), F.lit(tol.rel) * F.abs(start))
    diff = end - (start + flow + pc + F.lit(sign) * fx)
    diff_flipped = end - (start + flow + pc - F.lit(sign) * fx)
    brk = F.coalesce(F.abs(diff) > limit, F.lit(False))
    return df.select(
        *raw.columns,
        "flow_date",
        "share_id",
        "fund_id",
        *[COLUMNS[v] for v in NUMBERS],
        brk.alias("identity_break"),
        F.trunc(F.col("flow_date"), "MM").alias("flow_month"),
        (end.isNull() | pc.isNull() | fx.isNull()).alias("_identity_unchecked"),
        (brk & F.coalesce(F.abs(diff_flipped) <= limit, F.lit(False))).alias("_fx_flip_ok"),
        (F.col("_blank_ReportDate") | F.col("_blank_ShareId") | F.col("_blank_FundId")).alias(
            "_key_blank"
        ),
        F.coalesce(~is_flow_date(F.col("flow_date")), F.lit(False)).alias("_not_flow_date"),
        (F.col("_blank_Flow") | F.col("_blank_AssetsStart")).alias("_value_blank"),
        *[(~F.col(f"_blank_{v}") & F.col(COLUMNS[v]).isNull()).alias(f"_bad_{v}") for v in NUMBERS],
        F.coalesce(start < 0, F.lit(False)).alias("_negative_start"),
        *[F.col(f"_blank_{v}") for v in COLUMNS],
    )


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """Over parse's columns, the duplicate count (_dup_n) and the share-class reference
    (share_key, _ref_fund_id)."""
    bad_numbers = F.concat_ws(
        "; ", *[F.when(F.col(f"_bad_{v}"), F.concat(F.lit(f"{v}="), shown(rc(v)))) for v in NUMBERS]
    )
    any_bad = F.lit(False)
    for v in NUMBERS:
        any_bad = any_bad | F.col(f"_bad_{v}")
    return [
        *line_rules(inp),
        Rule(
            F.col("_key_blank"),
            R.MISSING_KEY,
            blank_list([(v, F.col(f"_blank_{v}")) for v in KEYS]),
        ),
        Rule(
            F.col("flow_date").isNull(),
            R.UNPARSEABLE_DATE,
            F.concat(F.lit("ReportDate="), shown(rc("ReportDate"))),
        ),
        Rule(
            F.col("_not_flow_date"),
            R.NOT_FLOW_DATE,
            F.concat(F.lit("ReportDate="), F.date_format("flow_date", "yyyy-MM-dd EEEE")),
        ),
        Rule(
            F.col("_value_blank"),
            R.MISSING_VALUE,
            blank_list([(v, F.col(f"_blank_{v}")) for v in ("Flow", "AssetsStart")]),
        ),
        Rule(any_bad, R.UNPARSEABLE_NUMBER, bad_numbers),
        Rule(
            F.col("_negative_start"),
            R.NEGATIVE_ASSETS_START,
            F.concat(F.lit("AssetsStart="), shown(rc("AssetsStart"))),
        ),
        R.duplicate_key_rule(("ReportDate", F.col("flow_date")), ("ShareId", F.col("share_id"))),
        Rule(
            F.col("share_key").isNull(),
            R.UNKNOWN_SHARE_CLASS,
            F.concat(
                F.lit("ShareId="),
                F.col("share_id"),
                F.lit(" not in share_classes (this batch or the table)"),
            ),
        ),
        Rule(
            F.col("_ref_fund_id") != F.col("fund_id"),
            R.FUND_MISMATCH,
            F.concat(
                F.lit("FundId="),
                F.col("fund_id"),
                F.lit(" but share class "),
                F.col("share_id"),
                F.lit(" belongs to "),
                F.col("_ref_fund_id"),
            ),
        ),
    ]


def row_rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """The checks that need no other row: every rule but duplicate_key."""
    return [x for x in rules(inp, ctx) if x.reason != R.DUPLICATE_KEY]


def content(inp: RawInput) -> Column:
    return row_json(list(COLUMNS))


SPEC = Source(
    "flows",
    "share_class_flows",
    ("flows.csv", "flows.parquet", "flows", "flows.csv.gz"),
    fixed_columns(tuple(COLUMNS)),
    parse,
    rules,
    ("flow_date", "share_id"),
    content,
    "window",
)
