"""Every Delta table of the warehouse, defined once: path, schema, partitioning, CHECK
constraints and table properties. storage.ensure() creates a table from its definition and
nothing else creates tables. docs/methodology.md says what each column means.

Layers: silver holds validated inputs (written by ingest), gold holds results (written by the
country-flows and mosaic-flows jobs and the backtest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from flowmosaic.errors import ConfigError

# Share-class investor types as fund_days keeps them: a column set per type. Any other value
# (or none) is "Other", so that a universe without an investor-type filter still counts it.
INVESTOR_TYPES = ("Institutional", "Retail", "Other")
TYPE_SUFFIX = {"Institutional": "inst", "Retail": "retail", "Other": "other"}
FUND_DAY_MEASURES = ("flow", "assets_start", "portfolio_change")

# Properties every table gets at creation. Deletion vectors stay off so that every reader the
# project supports (delta-rs, polars through it) reads every table; the retentions are what
# VACUUM and log clean-up honour (`flowmosaic maintain`).
COMMON_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.checkpointInterval": "20",
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}
# Gold tables also keep a change feed for downstream jobs.
GOLD_PROPERTIES = {**COMMON_PROPERTIES, "delta.enableChangeDataFeed": "true"}


def _schema(*fields: tuple[str, DataType, bool]) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in fields])


@dataclass(frozen=True)
class Generated:
    """A column Delta computes from the others on every write (writers do not supply it)."""

    name: str
    dtype: DataType
    expression: str


# The month of flow_date, as a generated partition column of the gold tables: a window
# replacement then touches only its months' partitions, and Delta's conflict check lets two
# jobs replace windows of different months at once. Reads filtered on flow_date prune on it.
FLOW_MONTH = Generated("flow_month", DateType(), "trunc(flow_date, 'MM')")
DATE_MONTH = Generated("date_month", DateType(), "trunc(date, 'MM')")


@dataclass(frozen=True)
class Table:
    name: str
    path: str  # relative to the warehouse
    schema: StructType  # the columns writers supply
    description: str
    partition_by: tuple[str, ...] = ()
    constraints: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=lambda: dict(COMMON_PROPERTIES))
    generated: tuple[Generated, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.schema.fields]

    @property
    def stored_schema(self) -> StructType:
        """The columns a reader sees: the written ones, then the generated ones."""
        return StructType(
            [*self.schema.fields, *[StructField(g.name, g.dtype, True) for g in self.generated]]
        )

    @property
    def layer(self) -> str:
        return self.path.split("/", 1)[0]


def _fund_day_schema() -> StructType:
    measures = [
        (f"{m}_{TYPE_SUFFIX[t]}", DoubleType(), True)
        for t in INVESTOR_TYPES
        for m in FUND_DAY_MEASURES
    ]
    return _schema(
        ("flow_date", DateType(), False),
        ("fund_key", IntegerType(), False),
        *measures,
        ("flow_month", DateType(), False),
    )


FLOW_CALENDAR_SQL = (
    "dayofweek({c}) BETWEEN 2 AND 6 AND NOT (month({c}) = 1 AND day({c}) = 1) "
    "AND NOT (month({c}) = 12 AND day({c}) = 25)"
)

# The date rules of weekly and monthly rows (flowmosaic/calendar.py), as SQL for constraints.
PERIOD_END_SQL = {
    "weekly": "CASE WHEN {c} >= DATE'2001-09-19' THEN dayofweek({c}) = 4 "
    "ELSE dayofweek({c}) = 6 END",
    "monthly": "{c} = last_day({c})",
}
PERIOD_END_TEXT = {
    "weekly": "the week's last day, a Wednesday (a Friday before 2001-09-19)",
    "monthly": "the month's last calendar day",
}


def _period_country_flows(freq: str) -> Table:
    return Table(
        f"{freq}_country_flows",
        f"gold/{freq}_country_flows",
        _schema(
            ("universe", StringType(), False),
            ("period_end", DateType(), False),
            ("country", StringType(), False),
            ("flow_usd", DoubleType(), True),
            ("assets_start_usd", DoubleType(), True),
            ("flow_pct", DoubleType(), True),
            ("portfolio_change_usd", DoubleType(), True),
            ("pseudo_return_pct", DoubleType(), True),
            ("fund_count", LongType(), False),
            # of fund_count: funds counted through their daily rows summed (no own row)
            ("funds_from_days", LongType(), False),
        ),
        f"{freq} country flows per universe over every fund able to report {freq}: a fund's "
        f"own {freq} row, else its days summed into the period (never both)",
        partition_by=("universe", "period_year"),
        generated=(Generated("period_year", IntegerType(), "year(period_end)"),),
        constraints={"fund_count_positive": "fund_count > 0"},
        properties=dict(GOLD_PROPERTIES),
    )


_TABLES = [
    Table(
        "funds",
        "silver/funds",
        _schema(
            ("fund_key", IntegerType(), False),
            ("fund_id", StringType(), False),
            ("asset_class", StringType(), True),
            ("geographic_focus", StringType(), True),
            ("cross_border", BooleanType(), True),
            ("domicile", StringType(), True),
            ("active_passive", StringType(), True),
            ("vehicle", StringType(), True),
        ),
        "fund attributes, one row per fund; fund_key is the fund's integer surrogate key",
        constraints={
            "fund_id_not_blank": "length(trim(fund_id)) > 0",
            "fund_key_non_negative": "fund_key >= 0",
        },
    ),
    Table(
        "share_classes",
        "silver/share_classes",
        _schema(
            ("share_key", IntegerType(), False),
            ("share_id", StringType(), False),
            ("fund_key", IntegerType(), False),
            ("fund_id", StringType(), False),
            ("investor_type", StringType(), True),
            # optional in the input: NULL when the delivery does not say
            ("currency", StringType(), True),  # ISO 4217 (conf/currencies.yaml)
            ("hedged", BooleanType(), True),  # hedged to its currency
        ),
        "share-class attributes, one row per share class, with its fund's key; currency and "
        "hedge flag when delivered",
        constraints={
            "ids_not_blank": "length(trim(share_id)) > 0 AND length(trim(fund_id)) > 0",
            "share_key_non_negative": "share_key >= 0",
        },
    ),
    Table(
        "share_class_flows",
        "silver/share_class_flows",
        _schema(
            ("flow_date", DateType(), False),
            ("share_key", IntegerType(), False),
            ("fund_key", IntegerType(), False),
            ("flow", DoubleType(), False),
            ("assets_start", DoubleType(), False),
            ("assets_end", DoubleType(), True),
            ("portfolio_change", DoubleType(), True),
            ("forex_change", DoubleType(), True),
            # AssetsEnd - (AssetsStart + Flow + PortfolioChange + ForexChange) beyond tolerance
            ("identity_break", BooleanType(), False),
            ("flow_month", DateType(), False),
        ),
        "daily share-class flows and assets in US$ (keys: see share_classes and funds)",
        partition_by=("flow_month",),
        constraints={
            "assets_start_non_negative": "assets_start >= 0",
            "flow_month_is_month_of_flow_date": "flow_month = trunc(flow_date, 'MM')",
            "flow_date_on_flow_calendar": FLOW_CALENDAR_SQL.format(c="flow_date"),
        },
    ),
    *[
        Table(
            f"share_class_flows_{freq}",
            f"silver/share_class_flows_{freq}",
            _schema(
                ("period_end", DateType(), False),
                ("share_key", IntegerType(), False),
                ("fund_key", IntegerType(), False),
                ("flow", DoubleType(), False),
                ("assets_start", DoubleType(), False),
                ("assets_end", DoubleType(), True),
                ("portfolio_change", DoubleType(), True),
                ("forex_change", DoubleType(), True),
                ("identity_break", BooleanType(), False),
                ("period_year", IntegerType(), False),
            ),
            f"{freq} share-class flows and assets in US$ of the funds that report {freq} "
            f"(period_end: {PERIOD_END_TEXT[freq]})",
            partition_by=("period_year",),
            constraints={
                "assets_start_non_negative": "assets_start >= 0",
                "period_year_is_year_of_period_end": "period_year = year(period_end)",
                "period_end_is_a_period_end": PERIOD_END_SQL[freq].format(c="period_end"),
            },
        )
        for freq in ("weekly", "monthly")
    ],
    Table(
        "fund_days",
        "silver/fund_days",
        _fund_day_schema(),
        "share-class flows summed to (fund, flow_date), one column set per investor type "
        "(NULL: no share class of that type reported that day); maintained by ingest",
        partition_by=("flow_month",),
        constraints={"flow_month_is_month_of_flow_date": "flow_month = trunc(flow_date, 'MM')"},
    ),
    Table(
        "fund_allocations",
        "silver/fund_allocations",
        _schema(
            ("alloc_month", DateType(), False),
            ("report_date", DateType(), False),
            ("fund_key", IntegerType(), False),
            ("country", StringType(), False),
            ("allocation_pct", DoubleType(), False),
        ),
        "monthly country allocations in percent of the fund's assets (non-zero values only)",
        partition_by=("alloc_month",),
        constraints={
            "allocation_pct_0_100": "allocation_pct > 0 AND allocation_pct <= 100",
            "alloc_month_is_month_of_report_date": "alloc_month = trunc(report_date, 'MM')",
            "country_iso2": "country RLIKE '^[A-Z]{2}$'",
        },
    ),
    Table(
        "fund_allocations_other",
        "silver/fund_allocations_other",
        _schema(
            ("alloc_month", DateType(), False),
            ("report_date", DateType(), False),
            ("fund_key", IntegerType(), False),
            ("line_kind", StringType(), False),  # cash | other | unallocated | supranational
            ("label", StringType(), False),  # the line's label as delivered
            ("allocation_pct", DoubleType(), False),
        ),
        "allocation lines that are not countries (cash, other, unallocated, supranational), in "
        "percent of the fund's assets: kept as what they are, never counted in a country",
        partition_by=("alloc_month",),
        constraints={
            "allocation_pct_0_100": "allocation_pct > 0 AND allocation_pct <= 100",
            "alloc_month_is_month_of_report_date": "alloc_month = trunc(report_date, 'MM')",
        },
    ),
    Table(
        "external_series",
        "silver/external_series",
        _schema(
            ("date", DateType(), False),
            ("series", StringType(), False),
            ("country", StringType(), False),
            ("value", DoubleType(), False),
            ("unit", StringType(), True),
            ("frequency", StringType(), False),
        ),
        "other flow sources a user supplies (official flows, positioning, hedging indicators)",
        constraints={"frequency_known": "frequency IN ('daily', 'weekly', 'monthly', 'quarterly')"},
    ),
    Table(
        "quarantine",
        "silver/quarantine",
        _schema(
            ("run_id", StringType(), False),
            ("source_table", StringType(), False),
            ("source_file", StringType(), False),
            ("row_content", StringType(), False),
            ("reason", StringType(), False),
            ("detail", StringType(), True),
            ("quarantined_at", TimestampType(), False),
        ),
        "input rows that were not accepted, as read (JSON), with a reason code",
        partition_by=("source_table",),
        constraints={"reason_not_blank": "length(reason) > 0"},
    ),
    Table(
        "country_flows",
        "gold/country_flows",
        _schema(
            ("universe", StringType(), False),
            ("flow_date", DateType(), False),
            ("country", StringType(), False),
            ("flow_usd", DoubleType(), True),
            ("assets_start_usd", DoubleType(), True),
            ("flow_pct", DoubleType(), True),
            ("portfolio_change_usd", DoubleType(), True),
            ("pseudo_return_pct", DoubleType(), True),
            ("fund_count", LongType(), False),
        ),
        "daily country flows per universe: sums of fund flows and assets weighted by the "
        "point-in-time allocations",
        partition_by=("universe", "flow_month"),
        generated=(FLOW_MONTH,),
        constraints={"fund_count_positive": "fund_count > 0"},
        properties=dict(GOLD_PROPERTIES),
    ),
    Table(
        "country_signals",
        "gold/country_signals",
        _schema(
            ("universe", StringType(), False),
            ("date", DateType(), False),
            ("country", StringType(), False),
            ("signal", StringType(), False),
            ("value", DoubleType(), True),
            ("numerator", DoubleType(), True),
            ("denominator", DoubleType(), True),
        ),
        "country signals beyond flow % (docs/signals.md), one row per (universe, date, "
        "country, signal), dated when the signal is known; numerator and denominator kept",
        partition_by=("universe", "date_month"),
        generated=(DATE_MONTH,),
        properties=dict(GOLD_PROPERTIES),
    ),
    Table(
        "investor_country_flows",
        "gold/investor_country_flows",
        _schema(
            ("universe", StringType(), False),
            ("flow_date", DateType(), False),
            ("investor_domicile", StringType(), False),
            ("investor_type", StringType(), False),
            ("country", StringType(), False),
            ("flow_usd", DoubleType(), True),
            ("assets_start_usd", DoubleType(), True),
            ("portfolio_change_usd", DoubleType(), True),
            ("fund_count", LongType(), False),
        ),
        "country_flows kept by investor domicile (the fund's domicile) and investor type "
        "(the share class's)",
        partition_by=("universe", "flow_month"),
        generated=(FLOW_MONTH,),
        constraints={"fund_count_positive": "fund_count > 0"},
        properties=dict(GOLD_PROPERTIES),
    ),
    _period_country_flows("weekly"),
    _period_country_flows("monthly"),
    Table(
        "coverage",
        "gold/coverage",
        _schema(
            ("universe", StringType(), False),
            ("period", StringType(), False),  # year | month
            ("period_start", DateType(), False),
            ("as_of", DateType(), False),  # the month end whose assets are counted
            ("all_funds", LongType(), False),
            ("all_assets_usd", DoubleType(), True),
            ("universe_funds", LongType(), False),
            ("universe_assets_usd", DoubleType(), True),
            ("daily_funds", LongType(), False),
            ("daily_assets_usd", DoubleType(), True),
            ("daily_alloc_funds", LongType(), False),
            ("daily_alloc_assets_usd", DoubleType(), True),
        ),
        "coverage per universe, year and month: funds and month-end assets of all funds, the "
        "universe's funds, its daily reporters and its daily reporters with allocations "
        "(docs/coverage.md)",
        partition_by=("universe",),
        constraints={
            "period_known": "period IN ('year', 'month')",
            # each group is a subset of the one before
            "fund_counts_nested": "daily_alloc_funds <= daily_funds AND daily_funds <= "
            "universe_funds AND universe_funds <= all_funds",
        },
        properties=dict(GOLD_PROPERTIES),
    ),
    Table(
        "investor_hedge_flows",
        "gold/investor_hedge_flows",
        _schema(
            ("universe", StringType(), False),
            ("flow_date", DateType(), False),
            ("investor_domicile", StringType(), False),
            # the share classes' hedged flag: true, false, NULL (not delivered)
            ("hedge_status", StringType(), False),  # hedged | unhedged | unknown
            ("country", StringType(), False),
            ("flow_usd", DoubleType(), True),
            ("assets_start_usd", DoubleType(), True),
            ("portfolio_change_usd", DoubleType(), True),  # holds a hedged class's hedge result
            ("fund_count", LongType(), False),
        ),
        "investor_country_flows kept by the share classes' hedge status instead of investor "
        "type (the fund's domicile as investor domicile; from share_class_flows)",
        partition_by=("universe", "flow_month"),
        generated=(FLOW_MONTH,),
        constraints={
            "fund_count_positive": "fund_count > 0",
            "hedge_status_known": "hedge_status IN ('hedged', 'unhedged', 'unknown')",
        },
        properties=dict(GOLD_PROPERTIES),
    ),
    Table(
        "backtest_runs",
        "gold/backtest_runs",
        _schema(
            ("run_id", StringType(), False),
            ("run_at", TimestampType(), False),
            ("source", StringType(), False),
            ("source_version", LongType(), True),
            ("parameters", StringType(), False),
            ("horizon", IntegerType(), False),
            ("statistic", StringType(), False),
            ("column", StringType(), False),
            ("value", DoubleType(), True),
        ),
        "backtest summaries, one row per (run, horizon, statistic, column); source_version "
        "is the country_flows version the run read",
    ),
]
TABLES: dict[str, Table] = {t.name: t for t in _TABLES}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(f"unknown table {name!r}; known: {', '.join(TABLES)}") from None


def fund_day_column(measure: str, investor_type: str) -> str:
    """fund_days column of a measure for an investor type (Institutional, Retail, Other)."""
    return f"{measure}_{TYPE_SUFFIX[investor_type]}"
