"""Share-class attributes: ShareId, FundId, InvestorType -> silver share_classes (a dimension:
merged by share_id, integer keys kept stable). The fund must be known (this batch's funds or
the funds table)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import as_text, blank_list, dtype, rc, row_json
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source, fixed_columns

COLUMNS = {"ShareId": "share_id", "FundId": "fund_id", "InvestorType": "investor_type"}


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    t = {v: dtype(raw, v) for v in COLUMNS}
    return raw.select("*", *[as_text(rc(v), t[v]).alias(s) for v, s in COLUMNS.items()])


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """Over the parsed columns, _dup_n and the fund reference (_fund_key)."""
    blanks = [("ShareId", F.col("share_id").isNull()), ("FundId", F.col("fund_id").isNull())]
    return [
        *line_rules(inp),
        Rule(blanks[0][1] | blanks[1][1], R.MISSING_KEY, blank_list(blanks)),
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
    return row_json(list(COLUMNS))


SPEC = Source(
    "share_classes",
    "share_classes",
    ("share_classes.csv", "share_classes.parquet", "share_classes", "share_classes.csv.gz"),
    fixed_columns(tuple(COLUMNS)),
    parse,
    rules,
    ("share_id",),
    content,
    "dimension",
)
