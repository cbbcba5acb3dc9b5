"""Monthly country allocations, wide (ReportDate, FundId, one column per ISO2 country) or long
(ReportDate, FundId, Country, Allocation), in percent -> silver fund_allocations, one row per
(fund, month, country) with a non-zero value. Lines that are not countries (cash, other,
unallocated, supranational: the spellings of conf/destinations.yaml's non_country) go to
silver fund_allocations_other as what they are, never to a country. A batch replaces the
months it holds in both.

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
from flowmosaic.ingest.inputs import RawInput, line_rules
from flowmosaic.ingest.parsing import (
    as_date,
    as_text,
    as_text_sql,
    dtype,
    r,
    rc,
    shown,
)
from flowmosaic.ingest.reasons import CUT_COL, MALFORMED_COL, Rule, first_reason
from flowmosaic.ingest.sources import Context, Source
from flowmosaic.storage import sql_string

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

        def kept(text: str) -> str:  # a cell that is not blank and not a zero
            return f"({text} IS NOT NULL AND NOT coalesce(try_cast({text} AS DOUBLE) = 0.0, false))"

        # Per line, before the unpivot: the keys and every cell's trimmed text (Spark 4.2's
        # code generation fails to compile common subexpressions after a wide Expand), and
        # the line's first kept column (NULL: nothing to keep). Built as SQL text: a column
        # per country, one py4j call per expression
        texts = [
            F.expr(f"{as_text_sql(r(h), dtype(raw, h))} AS _c_{i}") for i, h in enumerate(cols)
        ]
        lines = raw.select(
            "_source_file",
            MALFORMED_COL,
            CUT_COL,
            rc("ReportDate"),
            rc("FundId"),
            *line_cols,
            *texts,
        )
        first = F.expr(
            "coalesce("
            + ", ".join(
                f"CASE WHEN {kept(f'_c_{i}')} THEN {sql_string(h)} END" for i, h in enumerate(cols)
            )
            + ")"
        )
        # a malformed or cut-short line is one empty record: it is quarantined as a line
        lines = lines.select("*", F.when(~R.line_fault(), first).alias("_first"))
        ids = [
            "_source_file",
            MALFORMED_COL,
            CUT_COL,
            r("ReportDate"),
            r("FundId"),
            "report_date",
            "fund_id",
            "_first",
        ]
        cells = lines.select(
            *ids,
            F.expr(
                "posexplode(array("
                + ", ".join(
                    f"named_struct('h', {sql_string(h)}, 'v', _c_{i})" for i, h in enumerate(cols)
                )
                + "))"
            ).alias("_i", "_c"),
        )
        cells = cells.select(
            *ids, "_i", F.col("_c.h").alias("_name"), F.col("_c.v").alias("_value")
        )
        empty = F.col("_first").isNull()
        rec = cells.where(F.expr(kept("_value")) | (empty & (F.col("_i") == 0)))
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
            MALFORMED_COL,
            CUT_COL,
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
        MALFORMED_COL,
        CUT_COL,
        rc("ReportDate"),
        rc("FundId"),
        *extra,
        "_line_first",
        "_header",
        "_value",
        F.upper(F.trim(F.col("_header"))).alias("country"),
        line_kind(ctx).alias("line_kind"),
        "fund_id",
        "report_date",
        F.trunc(F.col("report_date"), "MM").alias("alloc_month"),
        F.when(F.col("_x") - F.col("_x") == F.lit(0.0), F.col("_x")).alias("allocation_pct"),
    )


def line_kind(ctx: Context) -> Column:
    """The kind of a line that is not a country (cash, other, unallocated, supranational),
    NULL for a country code or an unknown label. A country code always wins."""
    if not ctx.non_country:
        return F.lit(None).cast("string")
    # the label as config.line_label normalises it (a Column: a regex in SQL text would lose
    # its backslash to the SQL parser)
    label = F.regexp_replace(F.upper(F.trim(F.col("_header"))), r"[\s_-]", "")
    kind: Column | None = None
    for text, k in sorted(ctx.non_country.items()):
        kind = F.when(label == text, k) if kind is None else kind.when(label == text, k)
    known = ", ".join(map(sql_string, ctx.known_countries))
    assert kind is not None
    return F.when(F.expr(f"upper(trim(_header)) IN ({known})"), F.lit(None)).otherwise(kind)


def valid_value() -> Column:
    v = F.col("allocation_pct")
    return v.isNotNull() & (v >= 0) & (v <= 100)


def key_checks(records: DataFrame, inp: RawInput, ctx: Context) -> DataFrame:
    """One aggregation for what needs more than one record, and the batch's counts before
    anything is written (for the guard, ingest/guard.py). Records carry the fund reference
    (_fund_key).

    Kind 'p' rows: the keys given more than once (_dup_n) and the fund-months whose
    allocations sum above 100.5 (_alloc_sum; the sum covers every parseable in-range value of
    the fund-month, unknown countries and duplicates included). A wide key is a line (its
    first record stands for it); a long key is (fund, month, country).

    Kind 's' rows, one per allocation month (NULL: records without a valid key): records read,
    accepted, rejected by reason (as the rules will decide them), and the funds with a value
    to store."""
    long = inp.layout == "long"
    valid_key = F.col("fund_id").isNotNull() & F.col("alloc_month").isNotNull() & ~R.line_fault()
    value = F.when(valid_value(), F.col("allocation_pct"))
    # the record rules but the last (unknown_fund), which comes after the key rules
    early = [x for x in record_rules(inp, ctx) if x.reason != R.UNKNOWN_FUND]
    rr, _ = first_reason(early)
    keys = ["fund_id", "alloc_month"] + (["country"] if long else [])
    rows = records.select(
        *[F.when(valid_key, F.col(k)).alias(k) for k in keys],
        valid_key.alias("_valid"),
        "_line_first",
        value.alias("_v"),
        rr.alias("_rr"),
        F.col("_fund_key").isNull().alias("_unk"),
        stored().alias("_st"),
        F.col("line_kind").alias("_kind"),
    )
    clean = F.col("_rr").isNull()

    def n(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0))

    groups = rows.groupBy(*keys).agg(
        F.max(F.col("_valid").cast("int")).alias("_valid"),
        (F.sum(F.col("_line_first").cast("long")) if not long else F.count(F.lit(1))).alias("_n"),
        F.sum("_v").alias("_s"),
        F.count(F.lit(1)).alias("_rec"),
        *[n(F.col("_rr") == x.reason).alias(f"_r_{x.reason}") for x in early],
        n(clean & F.col("_unk")).alias("_uf"),
        n(clean & ~F.col("_unk")).alias("_ok"),
        n(clean & ~F.col("_unk") & F.col("_st")).alias("_stored"),
        n(clean & ~F.col("_unk") & F.col("_st") & F.col("_kind").isNotNull()).alias("_other"),
    )
    if long:
        groups = groups.withColumn(
            "_alloc_sum", F.sum("_s").over(Window.partitionBy("fund_id", "alloc_month"))
        )
    else:
        groups = groups.withColumn("_alloc_sum", F.col("_s"))
    dup = (F.col("_valid") == 1) & (F.col("_n") > 1)
    excess = (F.col("_valid") == 1) & (F.coalesce(F.col("_alloc_sum"), F.lit(0.0)) > SUM_LIMIT)
    problem = dup | excess
    problems = groups.where(problem).select(
        F.lit("p").alias("kind"),
        *keys,
        F.when(dup, F.col("_n")).alias("_dup_n"),
        F.when(excess, F.col("_alloc_sum")).alias("_alloc_sum"),
    )
    rest = F.col("_uf") + F.col("_ok")
    counts = {
        "read": F.sum("_rec"),
        **{x.reason: F.sum(f"_r_{x.reason}") for x in early},
        R.DUPLICATE_KEY: F.sum(F.when(dup, rest).otherwise(0)),
        R.ALLOCATION_SUM_ABOVE_100_5: F.sum(F.when(~dup & excess, rest).otherwise(0)),
        R.UNKNOWN_FUND: F.sum(F.when(~problem, F.col("_uf")).otherwise(0)),
        "accepted": F.sum(F.when(~problem, F.col("_ok")).otherwise(0)),
        "funds": F.count_distinct(F.when(~problem & (F.col("_stored") > 0), F.col("fund_id"))),
        "other_lines": F.sum(F.when(~problem, F.col("_other")).otherwise(0)),
    }
    summary = groups.groupBy("alloc_month").agg(
        F.struct(*[v.cast("long").alias(k) for k, v in counts.items()]).alias("_summary")
    )
    return problems.unionByName(summary.withColumn("kind", F.lit("s")), allowMissingColumns=True)


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
        *line_rules(inp),
        Rule(blank_key, R.MISSING_KEY, F.concat(F.lit("blank: "), F.concat_ws(", ", *names))),
        Rule(
            F.col("report_date").isNull(),
            R.UNPARSEABLE_DATE,
            F.concat(F.lit("ReportDate="), shown(rc("ReportDate"))),
        ),
        Rule(
            # SQL text: one py4j call for the list of every known country
            has_cell
            & F.col("line_kind").isNull()
            & F.expr(f"NOT country IN ({', '.join(map(sql_string, ctx.known_countries))})"),
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
