"""Fund attributes: FundId, AssetClass, GeographicFocus, CrossBorder, Domicile, ActivePassive,
Vehicle -> silver funds (a dimension: merged by fund_id, integer keys kept stable)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import as_bool, as_text, blank, dtype, rc, row_json, shown
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source, fixed_columns

COLUMNS = {
    "FundId": "fund_id",
    "AssetClass": "asset_class",
    "GeographicFocus": "geographic_focus",
    "CrossBorder": "cross_border",
    "Domicile": "domicile",
    "ActivePassive": "active_passive",
    "Vehicle": "vehicle",
}


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    t = {v: dtype(raw, v) for v in COLUMNS}
    txt = {v: as_text(rc(v), t[v]) for v in COLUMNS}
    return raw.select(
        "*",
        txt["FundId"].alias("fund_id"),
        txt["AssetClass"].alias("asset_class"),
        txt["GeographicFocus"].alias("geographic_focus"),
        as_bool(rc("CrossBorder"), t["CrossBorder"]).alias("cross_border"),
        F.upper(txt["Domicile"]).alias("domicile"),
        txt["ActivePassive"].alias("active_passive"),
        txt["Vehicle"].alias("vehicle"),
        blank(rc("CrossBorder"), t["CrossBorder"]).alias("_blank_cross_border"),
    )


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    return [
        *line_rules(inp),
        Rule(F.col("fund_id").isNull(), R.MISSING_KEY, F.lit("blank: FundId")),
        Rule(
            ~F.col("_blank_cross_border") & F.col("cross_border").isNull(),
            R.UNPARSEABLE_BOOLEAN,
            F.concat(F.lit("CrossBorder="), shown(rc("CrossBorder"))),
        ),
        R.duplicate_key_rule(("FundId", F.col("fund_id"))),
    ]


def content(inp: RawInput) -> Column:
    return row_json(list(COLUMNS))


SPEC = Source(
    "funds",
    "funds",
    ("funds.csv", "funds.parquet", "funds", "funds.csv.gz"),
    fixed_columns(tuple(COLUMNS)),
    parse,
    rules,
    ("fund_id",),
    content,
    "dimension",
)
