"""Share-class attributes: ShareId, FundId, InvestorType and, when the file has them, Currency
(ISO 4217) and Hedged (true/false) -> silver share_classes (a dimension: merged by share_id,
integer keys kept stable). The fund must be known (this batch's funds or the funds table). A
file without the optional columns leaves them NULL (unknown), which is not an error."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import (
    as_bool,
    as_text,
    blank,
    blank_list,
    dtype,
    rc,
    row_json,
    shown,
)
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source

COLUMNS = {"ShareId": "share_id", "FundId": "fund_id", "InvestorType": "investor_type"}
OPTIONAL = {"Currency": "currency", "Hedged": "hedged"}


def required_for(header: list[str]) -> tuple[tuple[str, ...], str]:
    """The three fixed columns, and the optional ones the file has."""
    present = {h.strip() for h in header}
    return (*COLUMNS, *[v for v in OPTIONAL if v in present]), ""


def _has(raw: DataFrame, vendor: str) -> bool:
    return f"r__{vendor}" in raw.columns


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    t = {v: dtype(raw, v) for v in COLUMNS}
    cols = [as_text(rc(v), t[v]).alias(s) for v, s in COLUMNS.items()]
    if _has(raw, "Currency"):
        cols.append(F.upper(as_text(rc("Currency"), dtype(raw, "Currency"))).alias("currency"))
    else:
        cols.append(F.lit(None).cast("string").alias("currency"))
    if _has(raw, "Hedged"):
        th = dtype(raw, "Hedged")
        cols += [
            as_bool(rc("Hedged"), th).alias("hedged"),
            blank(rc("Hedged"), th).alias("_blank_hedged"),
        ]
    else:
        cols += [F.lit(None).cast("boolean").alias("hedged"), F.lit(True).alias("_blank_hedged")]
    return raw.select("*", *cols)


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """Over the parsed columns, _dup_n and the fund reference (_fund_key)."""
    blanks = [("ShareId", F.col("share_id").isNull()), ("FundId", F.col("fund_id").isNull())]
    out = [
        *line_rules(inp),
        Rule(blanks[0][1] | blanks[1][1], R.MISSING_KEY, blank_list(blanks)),
    ]
    if "Currency" in inp.required:
        out.append(
            Rule(
                F.col("currency").isNotNull() & ~F.col("currency").isin(*ctx.known_currencies),
                R.UNKNOWN_CURRENCY,
                F.concat(F.lit("Currency="), F.col("currency"), F.lit(" is not an ISO 4217 code")),
            )
        )
    if "Hedged" in inp.required:
        out.append(
            Rule(
                ~F.col("_blank_hedged") & F.col("hedged").isNull(),
                R.UNPARSEABLE_BOOLEAN,
                F.concat(F.lit("Hedged="), shown(rc("Hedged"))),
            )
        )
    return [
        *out,
        R.duplicate_key_rule(("ShareId", F.col("share_id"))),
        Rule(
            F.col("_fund_key").isNull(),
            R.UNKNOWN_FUND,
            F.concat(
                F.lit("FundId="), F.col("fund_id"), F.lit(" not in funds (this batch or the table)")
            ),
        ),
    ]


def content(inp: RawInput) -> Column:
    return row_json([v for v in (*COLUMNS, *OPTIONAL) if v in inp.required])


SPEC = Source(
    "share_classes",
    "share_classes",
    ("share_classes.csv", "share_classes.parquet", "share_classes", "share_classes.csv.gz"),
    required_for,
    parse,
    rules,
    ("share_id",),
    content,
    "dimension",
)
