"""Weekly and monthly share-class flows: the daily flows' columns (ReportDate, ShareId, FundId,
Flow, AssetsStart, AssetsEnd, PortfolioChange, ForexChange), one row per share class and
period, dated at the period's end -> silver share_class_flows_weekly / _monthly. The same
parse, checks and identity as daily flows (sources/flows.py), except the date rule: a weekly
row's date must be a week's end (a Wednesday; a Friday before 2001-09-19), a monthly row's the
last day of its month (not_period_end). A batch replaces the periods from its first to its
last valid period end (ingest/periodic.py).
"""

from __future__ import annotations

from pyspark.sql import functions as F

from flowmosaic.calendar import FREQUENCIES
from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import Rule
from flowmosaic.ingest.sources import Context, Source, fixed_columns
from flowmosaic.ingest.sources import flows as daily
from flowmosaic.spark.calendar import is_period_end

RULE_TEXT = {
    "weekly": "not a week's end (a Wednesday; a Friday before 2001-09-19)",
    "monthly": "not the last day of its month",
}


def not_period_end(frequency: str) -> Rule:
    d = F.col("flow_date")
    return Rule(
        ~is_period_end(d, frequency),
        R.NOT_PERIOD_END,
        F.concat(
            F.lit("ReportDate="),
            F.date_format(d, "yyyy-MM-dd EEEE"),
            F.lit(f": {RULE_TEXT[frequency]}"),
        ),
    )


def rules_for(frequency: str):
    def rules(inp: RawInput, ctx: Context) -> list[Rule]:
        """The daily rules with the flow-calendar rule replaced by the period-end rule."""
        return [
            not_period_end(frequency) if x.reason == R.NOT_FLOW_DATE else x
            for x in daily.rules(inp, ctx)
        ]

    return rules


def spec(frequency: str) -> Source:
    name = f"{frequency}_flows"
    return Source(
        name,
        f"share_class_flows_{frequency}",
        (f"{name}.csv", f"{name}.parquet", name, f"{name}.csv.gz"),
        fixed_columns(tuple(daily.COLUMNS)),
        daily.parse,
        rules_for(frequency),
        ("flow_date", "share_id"),
        daily.content,
        "periods",
    )


SPECS = {f: spec(f) for f in FREQUENCIES}
