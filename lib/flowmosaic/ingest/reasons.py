"""Reason codes of quarantined rows (stable: they are data) and the first-rule-wins rule
machinery. docs/ingest.md lists what each code means for each source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

MALFORMED_LINE = "malformed_line"
TRUNCATED_LINE = "truncated_line"
MISSING_KEY = "missing_key"
UNPARSEABLE_DATE = "unparseable_date"
NOT_FLOW_DATE = "not_flow_date"
UNKNOWN_COUNTRY = "unknown_country"
UNKNOWN_FREQUENCY = "unknown_frequency"
UNKNOWN_CURRENCY = "unknown_currency"
NOT_PERIOD_END = "not_period_end"
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
# the order reports list them in
REASONS = (
    MALFORMED_LINE,
    TRUNCATED_LINE,
    MISSING_KEY,
    UNPARSEABLE_DATE,
    NOT_FLOW_DATE,
    NOT_PERIOD_END,
    UNKNOWN_COUNTRY,
    UNKNOWN_FREQUENCY,
    UNKNOWN_CURRENCY,
    MISSING_VALUE,
    UNPARSEABLE_NUMBER,
    UNPARSEABLE_BOOLEAN,
    NEGATIVE_ASSETS_START,
    ALLOCATION_OUT_OF_RANGE,
    DUPLICATE_KEY,
    ALLOCATION_SUM_ABOVE_100_5,
    UNKNOWN_FUND,
    UNKNOWN_SHARE_CLASS,
    FUND_MISMATCH,
)


@dataclass(frozen=True)
class Rule:
    """A row gets `reason` (with `detail`) when `condition` holds and no earlier rule did."""

    condition: Column
    reason: str
    detail: Column


# Columns inputs.read adds to every raw frame: the line as read when the CSV parser found it
# malformed (other field count than the header), and whether the row is a file's last line cut
# short (the file does not end with a line break).
MALFORMED_COL = "_malformed"
CUT_COL = "_cut"


def line_fault() -> Column:
    """True for a row whose line is malformed or cut short: its values are not to be trusted,
    so it takes part in no key check (duplicates) and no window."""
    return F.col(MALFORMED_COL).isNotNull() | F.coalesce(F.col(CUT_COL), F.lit(False))


def line_rules(n_fields: int, sep: str) -> list[Rule]:
    """The first two rules of every source: a CSV line with another number of fields than the
    header (n_fields), and a file's last line when the file does not end with a line break
    (a download stopped inside it). `sep` is the delimiter, for counting the fields."""
    line = F.col(MALFORMED_COL)
    # fields outside quotes: split on separators followed by an even number of quotes
    fields = F.size(F.split(line, f'{re.escape(sep)}(?=(?:[^"]*"[^"]*")*[^"]*$)'))
    quotes = F.length(line) - F.length(F.regexp_replace(line, '"', ""))
    detail = F.when(
        quotes % 2 == 1,
        F.lit(
            "an unclosed quote (a line break inside a quoted field is read as the end "
            "of the line in files read line by line)"
        ),
    ).otherwise(
        F.concat(fields.cast("string"), F.lit(f" field(s) where the header has {n_fields}"))
    )
    return [
        Rule(line.isNotNull(), MALFORMED_LINE, detail),
        Rule(
            F.coalesce(F.col(CUT_COL), F.lit(False)),
            TRUNCATED_LINE,
            F.lit(
                "the file's last line, and the file does not end with a line break: the "
                "delivery may have stopped inside it"
            ),
        ),
    ]


def duplicate_key_rule(*key: tuple[str, Column]) -> Rule:
    """DUPLICATE_KEY for a row whose key other rows share (`_dup_n`: how many share it), with
    the detail "<n> rows share NAME=value, NAME=value"."""
    parts: list[Column] = [F.col("_dup_n").cast("string"), F.lit(" rows share ")]
    for i, (name, value) in enumerate(key):
        parts += [F.lit(f"{', ' if i else ''}{name}="), value.cast("string")]
    return Rule(F.col("_dup_n").isNotNull(), DUPLICATE_KEY, F.concat(*parts))


def first_reason(rules: list[Rule]) -> tuple[Column, Column]:
    """(reason, detail) Columns: the first rule whose condition holds, else NULL."""
    reason: Column | None = None
    detail: Column | None = None
    for rule in rules:
        cond = F.coalesce(rule.condition, F.lit(False))
        if reason is None or detail is None:
            reason, detail = F.when(cond, F.lit(rule.reason)), F.when(cond, rule.detail)
        else:
            reason, detail = reason.when(cond, F.lit(rule.reason)), detail.when(cond, rule.detail)
    if reason is None or detail is None:  # no rules: no row has a reason
        return F.lit(None).cast("string"), F.lit(None).cast("string")
    return reason, detail


def any_rule(rules: list[Rule]) -> Column:
    """True when some rule holds (NULL conditions count as false)."""
    out = F.lit(False)
    for rule in rules:
        out = out | F.coalesce(rule.condition, F.lit(False))
    return out
