"""Other flow sources a user supplies, long: date, series, country, value, unit, frequency
(balance-of-payments flows, official holdings, futures positioning, an FX risk reversal...)
-> silver external_series. A batch replaces the series it holds."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import (
    as_date,
    as_double,
    as_text,
    blank_list,
    dtype,
    rc,
    row_json,
    shown,
)
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source, fixed_columns

COLUMNS = ("date", "series", "country", "value", "unit", "frequency")
FREQUENCIES = ("daily", "weekly", "monthly", "quarterly")


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    t = {v: dtype(raw, v) for v in COLUMNS}
    txt = {v: as_text(rc(v), t[v]) for v in COLUMNS}
    return raw.select(
        "*",
        as_date(rc("date"), t["date"]).alias("date"),
        txt["series"].alias("series"),
        F.upper(txt["country"]).alias("country"),
        as_double(rc("value"), t["value"]).alias("value"),
        txt["unit"].alias("unit"),
        F.lower(txt["frequency"]).alias("frequency"),
        txt["date"].isNull().alias("_blank_date"),
        txt["value"].isNull().alias("_blank_value"),
    )


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    blanks = [
        ("date", F.col("_blank_date")),
        ("series", F.col("series").isNull()),
        ("country", F.col("country").isNull()),
    ]
    return [
        *line_rules(inp),
        Rule(blanks[0][1] | blanks[1][1] | blanks[2][1], R.MISSING_KEY, blank_list(blanks)),
        Rule(
            F.col("date").isNull(), R.UNPARSEABLE_DATE, F.concat(F.lit("date="), shown(rc("date")))
        ),
        Rule(
            ~F.col("country").isin(*ctx.known_countries),
            R.UNKNOWN_COUNTRY,
            F.concat(F.lit("country "), F.col("country"), F.lit(" not among the known codes")),
        ),
        Rule(F.col("_blank_value"), R.MISSING_VALUE, F.lit("blank: value")),
        Rule(
            F.col("value").isNull(),
            R.UNPARSEABLE_NUMBER,
            F.concat(F.lit("value="), shown(rc("value"))),
        ),
        Rule(
            ~F.coalesce(F.col("frequency"), F.lit("")).isin(*FREQUENCIES),
            R.UNKNOWN_FREQUENCY,
            F.concat(
                F.lit("frequency="),
                shown(rc("frequency")),
                F.lit(f" (want {', '.join(FREQUENCIES)})"),
            ),
        ),
        R.duplicate_key_rule(
            ("date", F.col("date")), ("series", F.col("series")), ("country", F.col("country"))
        ),
    ]


def content(inp: RawInput) -> Column:
    return row_json(list(COLUMNS))


SPEC = Source(
    "external_series",
    "external_series",
    (
        "external_series.csv",
        "external_series.parquet",
        "external_series",
    ),
    fixed_columns(COLUMNS),
    parse,
    rules,
    ("date", "series", "country"),
    content,
    "series",
)
