"""Column names and types of the raw inputs and of every table, in one place."""
from __future__ import annotations

from pyspark.sql.types import (BooleanType, DateType, DoubleType, IntegerType, LongType,
                               StringType, StructField, StructType, TimestampType)

# Raw inputs, with the vendor's column names. Each maps vendor column -> silver column.
RAW_FLOWS = {
    "ReportDate": "flow_date", "ShareId": "share_id", "FundId": "fund_id", "Flow": "flow",
    "AssetsStart": "assets_start", "AssetsEnd": "assets_end",
    "PortfolioChange": "portfolio_change", "ForexChange": "forex_change",
}
RAW_SHARE_CLASSES = {"ShareId": "share_id", "FundId": "fund_id", "InvestorType": "investor_type"}
RAW_FUNDS = {
    "FundId": "fund_id", "AssetClass": "asset_class", "GeographicFocus": "geographic_focus",
    "CrossBorder": "cross_border", "Domicile": "domicile", "ActivePassive": "active_passive",
    "Vehicle": "vehicle",
}
RAW_ALLOCATIONS_LONG = {"ReportDate": "report_date", "FundId": "fund_id", "Country": "country",
                        "Allocation": "allocation_pct"}
# The wide allocation file: ReportDate, FundId, then one column per ISO2 country.
RAW_ALLOCATIONS_WIDE_KEYS = ("ReportDate", "FundId")

SHARE_CLASS_FLOWS = StructType([
    StructField("flow_date", DateType(), False),
    StructField("share_id", StringType(), False),
    StructField("fund_id", StringType(), False),
    StructField("flow", DoubleType(), False),
    StructField("assets_start", DoubleType(), False),
    StructField("assets_end", DoubleType(), True),
    StructField("portfolio_change", DoubleType(), True),
    StructField("forex_change", DoubleType(), True),
    # AssetsEnd - (AssetsStart + Flow + PortfolioChange + ForexChange) beyond tolerance
    StructField("identity_break", BooleanType(), False),
    StructField("flow_month", DateType(), False),  # partition column: first day of flow_date's month
])

SHARE_CLASSES = StructType([
    StructField("share_id", StringType(), False),
    StructField("fund_id", StringType(), False),
    StructField("investor_type", StringType(), True),
])

FUNDS = StructType([
    StructField("fund_id", StringType(), False),
    StructField("asset_class", StringType(), True),
    StructField("geographic_focus", StringType(), True),
    StructField("cross_border", BooleanType(), True),
    StructField("domicile", StringType(), True),
    StructField("active_passive", StringType(), True),
    StructField("vehicle", StringType(), True),
])

FUND_ALLOCATIONS = StructType([
    StructField("alloc_month", DateType(), False),  # first day of the report month; partition
    StructField("report_date", DateType(), False),  # as delivered (normally the month end)
    StructField("fund_id", StringType(), False),
    StructField("country", StringType(), False),
    StructField("allocation_pct", DoubleType(), False),
])

QUARANTINE = StructType([
    StructField("run_id", StringType(), False),
    StructField("source_table", StringType(), False),
    StructField("source_file", StringType(), False),
    StructField("row_content", StringType(), False),  # the raw row as JSON, as read
    StructField("reason", StringType(), False),
    StructField("detail", StringType(), True),
    StructField("quarantined_at", TimestampType(), False),
])

COUNTRY_FLOWS = StructType([
    StructField("universe", StringType(), False),
    StructField("flow_date", DateType(), False),
    StructField("country", StringType(), False),
    StructField("flow_usd", DoubleType(), True),
    StructField("assets_start_usd", DoubleType(), True),
    StructField("flow_pct", DoubleType(), True),
    StructField("portfolio_change_usd", DoubleType(), True),
    StructField("pseudo_return_pct", DoubleType(), True),
    StructField("fund_count", LongType(), False),
])

BACKTEST_RUNS = StructType([
    StructField("run_id", StringType(), False),
    StructField("run_at", TimestampType(), False),
    StructField("source", StringType(), False),
    StructField("source_version", LongType(), True),
    StructField("parameters", StringType(), False),  # JSON
    StructField("horizon", IntegerType(), False),
    StructField("statistic", StringType(), False),
    StructField("column", StringType(), False),
    StructField("value", DoubleType(), True),
])
