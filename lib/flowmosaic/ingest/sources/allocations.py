"""Monthly country allocations, wide (ReportDate, FundId, one column per ISO2 country) or long
(ReportDate, FundId, Country, Allocation), in percent -> silver fund_allocations, one row per
(fund, month, country) with a non-zero value. A batch replaces the months it holds.

The unit counted is a record: a long row, or a non-blank non-zero cell of a wide line (a wide
line with no such cell is one empty record, so its key is still checked and counted; blank and
0 mean "no allocation" and are not stored in either layout).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.parsing import as_date, as_text, dtype, r, rc, shown
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source

KEYS = ("ReportDate", "FundId")
LONG = ("ReportDate", "FundId", "Country", "Allocation")
SUM_LIMIT = 100.5


def required_for(columns: list[str]) -> tuple[tuple[str, ...], str]:
    """Long when the header has Country and Allocation, else wide (ValueError when a wide
    header has no country column, or names one twice, in any case)."""
    stripped = [c.strip() for c in columns]
    if {"Country", "Allocation"} <= set(stripped):
        return LONG, "long"
    codes = [c.upper() for c in stripped if c not in KEYS]
    if not codes:
        raise ValueError(
            f"no country columns (wide layout wants {', '.join(KEYS)}, <ISO2 "
            f"columns>; long wants {', '.join(LONG)})"
        )
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise ValueError(f"country column(s) given twice: {', '.join(twice)}")
    return KEYS, "wide"


def headers(inp: RawInput) -> list[str]:
    """The country columns of a wide file, as read."""
    return [c for c in inp.columns if c not in KEYS] if inp.layout == "wide" else []


def parse(raw: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    """Wide lines or long rows -> one record per (fund, month, country) value.

    Columns: _source_file, r__ReportDate, r__FundId, (long: r__Allocation), _line_first (true
    on exactly one record of each input line), _header (the column or Country as read),
    _value (the value's text), country, fund_id, report_date, alloc_month, allocation_pct.
    """
    report_date = as_date(rc("ReportDate"), dtype(raw, "ReportDate"))
    line_cols = [
        report_date.alias("report_date"),
        as_text(rc("FundId"), dtype(raw, "FundId")).alias("fund_id"),
    ]
    if inp.layout == "wide":
        cols = headers(inp)

        def kept(text: Column) -> Column:
            return text.isNotNull() & ~F.coalesce(
                text.try_cast("double") == F.lit(0.0), F.lit(False)
            )

        # Per line, before the unpivot: the keys and every cell's trimmed text (Spark 4.2's
        # code generation fails to compile common subexpressions after a wide Expand), and
        # the line's first kept column (NULL: nothing to keep)
        texts = [as_text(rc(h), dtype(raw, h)).alias(f"_c_{i}") for i, h in enumerate(cols)]
        lines = raw.select("_source_file", rc("ReportDate"), rc("FundId"), *line_cols, *texts)
        first = F.coalesce(*[F.when(kept(F.col(f"_c_{i}")), F.lit(h)) for i, h in enumerate(cols)])
        lines = lines.select("*", first.alias("_first"))
        ids = ["_source_file", r("ReportDate"), r("FundId"), "report_date", "fund_id", "_first"]
        cells = lines.select(
            *ids,
            F.posexplode(
                F.array(
                    *[
                        F.struct(F.lit(h).alias("h"), F.col(f"_c_{i}").alias("v"))
                        for i, h in enumerate(cols)
                    ]
                )
            ).alias("_i", "_c"),
        )
        cells = cells.select(
            *ids, "_i", F.col("_c.h").alias("_name"), F.col("_c.v").alias("_value")
        )
        empty = F.col("_first").isNull()
        rec = cells.where(kept(F.col("_value")) | (empty & (F.col("_i") == 0)))
        rec = rec.select(
            *ids,
            (empty | (F.col("_name") == F.col("_first"))).alias("_line_first"),
            F.when(~empty, F.col("_name")).alias("_header"),
            F.when(~empty, F.col("_value")).alias("_value"),
        )
        rec = rec.select("*", F.col("_value").try_cast("double").alias("_x"))
        extra = []
    else:
        t_val = dtype(raw, "Allocation")
        value = as_text(rc("Allocation"), t_val)
        rec = raw.select(
            "_source_file",
            rc("ReportDate"),
            rc("FundId"),
            rc("Allocation"),
            *line_cols,
            F.lit(True).alias("_line_first"),
            rc("Country").cast("string").alias("_header"),
            value.alias("_value"),
            (
                rc("Allocation").cast("double")
                if isinstance(t_val, T.NumericType)
                else value.try_cast("double")
            ).alias("_x"),
        )
        extra = [rc("Allocation")]
    return rec.select(
        "_source_file",
        rc("ReportDate"),
        rc("FundId"),
        *extra,
        "_line_first",
        "_header",
        "_value",
        F.upper(F.trim(F.col("_header"))).alias("country"),
        "fund_id",
        "report_date",
        F.trunc(F.col("report_date"), "MM").alias("alloc_month"),
        F.when(F.col("_x") - F.col("_x") == F.lit(0.0), F.col("_x")).alias("allocation_pct"),
    )


def valid_value() -> Column:
    v = F.col("allocation_pct")
    return v.isNotNull() & (v >= 0) & (v <= 100)


def key_checks(records: DataFrame, layout: str, row_ok: Column) -> DataFrame:
    """One aggregation for what needs more than one record: the keys given more than once
    (_dup_n) and the fund-months whose allocations sum above 100.5 (_alloc_sum; the sum covers
    every parseable in-range value of the fund-month, unknown countries and duplicates
    included), kind 'p' rows; and the months some record is accepted in (row_ok: no
    single-record rule fails), kind 'm' rows. A wide key is a line (its first record stands
    for it); a long key is (fund, month, country)."""
    valid_key = F.col("fund_id").isNotNull() & F.col("alloc_month").isNotNull()
    value = F.when(valid_value(), F.col("allocation_pct"))
    ok = F.max(F.coalesce(row_ok, F.lit(False)).cast("int")).alias("_ok")
    if layout == "wide":
        groups = (
            records.where(valid_key)
            .groupBy("fund_id", "alloc_month")
            .agg(
                F.sum(F.col("_line_first").cast("long")).alias("_n"),
                F.sum(value).alias("_alloc_sum"),
                ok,
            )
        )
        keys = ["fund_id", "alloc_month"]
    else:
        groups = (
            records.where(valid_key)
            .groupBy("fund_id", "alloc_month", "country")
            .agg(F.count(F.lit(1)).alias("_n"), F.sum(value).alias("_s"), ok)
            .withColumn(
                "_alloc_sum", F.sum("_s").over(Window.partitionBy("fund_id", "alloc_month"))
            )
        )
        keys = ["fund_id", "alloc_month", "country"]
    dup = F.col("_n") > 1
    excess = F.coalesce(F.col("_alloc_sum"), F.lit(0.0)) > SUM_LIMIT
    problems = groups.where(dup | excess).select(
        F.lit("p").alias("kind"),
        *keys,
        F.when(dup, F.col("_n")).alias("_dup_n"),
        F.when(excess, F.col("_alloc_sum")).alias("_alloc_sum"),
    )
    months = (
        groups.where(~dup & ~excess & (F.col("_ok") == 1))
        .select("alloc_month")
        .distinct()
        .select(
            F.lit("m").alias("kind"),
            *[
                F.col(k) if k == "alloc_month" else F.lit(None).cast("string").alias(k)
                for k in keys
            ],
            F.lit(None).cast("long").alias("_dup_n"),
            F.lit(None).cast("double").alias("_alloc_sum"),
        )
    )
    return problems.unionByName(months)


def record_rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """The rules one record decides alone (all but duplicates and sums)."""
    return [
        x
        for x in rules(inp, ctx)
        if x.reason not in (R.DUPLICATE_KEY, R.ALLOCATION_SUM_ABOVE_100_5)
    ]


def rules(inp: RawInput, ctx: Context) -> list[Rule]:
    """Over parse's columns, the key checks (_dup_n, _alloc_sum) and the fund reference
    (_fund_key)."""
    blank_rd = as_text(rc("ReportDate").cast("string"), T.StringType()).isNull()
    blank_fid = F.col("fund_id").isNull()
    blank_key = blank_rd | blank_fid
    names = [F.when(blank_rd, F.lit("ReportDate")), F.when(blank_fid, F.lit("FundId"))]
    long = inp.layout == "long"
    if long:
        no_country = F.col("country").isNull() | (F.col("country") == "")
        blank_key = blank_key | no_country
        names.append(F.when(no_country, F.lit("Country")))
    has_cell = F.col("_header").isNotNull()
    cell = F.concat(
        F.coalesce(F.col("_header"), F.lit("")), F.lit("="), F.coalesce(F.col("_value"), F.lit(""))
    )
    month = F.date_format("alloc_month", "yyyy-MM")
    return [
        Rule(blank_key, R.MISSING_KEY, F.concat(F.lit("blank: "), F.concat_ws(", ", *names))),
        Rule(
            F.col("report_date").isNull(),
            R.UNPARSEABLE_DATE,
            F.concat(F.lit("ReportDate="), shown(rc("ReportDate"))),
        ),
        Rule(
            has_cell & ~F.col("country").isin(*ctx.known_countries),
            R.UNKNOWN_COUNTRY,
            F.concat(F.lit("country "), F.col("_header"), F.lit(" not among the known codes")),
        ),
        Rule(has_cell & F.col("_value").isNull(), R.MISSING_VALUE, F.lit("blank: Allocation")),
        Rule(has_cell & F.col("allocation_pct").isNull(), R.UNPARSEABLE_NUMBER, cell),
        Rule(has_cell & ~valid_value(), R.ALLOCATION_OUT_OF_RANGE, cell),
        Rule(
            F.col("_dup_n").isNotNull(),
            R.DUPLICATE_KEY,
            F.concat(
                F.col("_dup_n").cast("string"),
                F.lit(" rows share FundId=" if long else " lines share FundId="),
                F.col("fund_id"),
                F.lit(", month "),
                month,
                *([F.lit(", Country="), F.col("country")] if long else []),
            ),
        ),
        Rule(
            F.col("_alloc_sum").isNotNull(),
            R.ALLOCATION_SUM_ABOVE_100_5,
            F.concat(
                F.lit("FundId="),
                F.col("fund_id"),
                F.lit(", month "),
                month,
                F.lit(": allocations sum to "),
                F.format_number(F.col("_alloc_sum"), 4),
                F.lit(" > 100.5"),
            ),
        ),
        Rule(
            F.col("_fund_key").isNull(),
            R.UNKNOWN_FUND,
            F.concat(
                F.lit("FundId="), F.col("fund_id"), F.lit(" not in funds (this batch or the table)")
            ),
        ),
    ]


def stored() -> Column:
    """An accepted record that holds a value to store (not an empty line, not a zero)."""
    return F.coalesce(F.col("_header").isNotNull() & (F.col("allocation_pct") > 0), F.lit(False))


def content(inp: RawInput) -> Column:
    """A record as read, as JSON: the long row, or the wide line's key and this one cell."""
    if inp.layout == "long":
        return F.to_json(
            F.struct(
                rc("ReportDate").alias("ReportDate"),
                rc("FundId").alias("FundId"),
                F.col("_header").alias("Country"),
                rc("Allocation").alias("Allocation"),
            ),
            {"ignoreNullFields": "false"},
        )
    base = [
        F.lit("ReportDate"),
        rc("ReportDate").cast("string"),
        F.lit("FundId"),
        rc("FundId").cast("string"),
    ]
    return F.to_json(
        F.when(F.col("_header").isNull(), F.create_map(*base)).otherwise(
            F.create_map(*base, F.col("_header"), F.col("_value"))
        )
    )


SPEC = Source(
    "allocations",
    "fund_allocations",
    ("allocations.csv", "allocations.parquet", "allocations", "allocations.csv.gz"),
    required_for,
    parse,
    rules,
    ("fund_id", "alloc_month"),
    content,
    "months",
)
