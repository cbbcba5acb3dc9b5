"""Reason codes of quarantined rows (stable: they are data) and the first-rule-wins rule
machinery. docs/ingest.md lists what each code means for each source."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

MISSING_KEY = "missing_key"
UNPARSEABLE_DATE = "unparseable_date"
NOT_FLOW_DATE = "not_flow_date"
UNKNOWN_COUNTRY = "unknown_country"
UNKNOWN_FREQUENCY = "unknown_frequency"
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
    MISSING_KEY,
    UNPARSEABLE_DATE,
    NOT_FLOW_DATE,
    UNKNOWN_COUNTRY,
    UNKNOWN_FREQUENCY,
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
