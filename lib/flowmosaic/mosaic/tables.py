"""The mosaic's inputs read from the warehouse into pandas: investor_country_flows,
investor_hedge_flows and country_flows of a universe (optionally a window), and
external_series of a country."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import Settings
from flowmosaic.errors import InputError


def _window(df, start: dt.date | None, end: dt.date | None, column: str = "flow_date"):
    if start is not None:
        df = df.where(F.col(column) >= F.lit(start))
    if end is not None:
        df = df.where(F.col(column) <= F.lit(end))
    return df


def gold(
    spark: SparkSession,
    settings: Settings,
    name: str,
    universe: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """A gold table's rows of one universe (pandas), with a clear error when there are none."""
    path = settings.table_path(name)
    if not storage.exists(spark, path):
        job = "country-flows" if name == "country_flows" else "mosaic-flows"
        raise InputError(f"{name}: no table at {path} (run `flowmosaic {job}` first)")
    rows = _window(
        storage.read(spark, path).where(F.col("universe") == universe), start, end
    ).toPandas()
    if rows.empty:
        raise InputError(
            f"{name} has no rows for universe {universe!r}"
            + (f" between {start} and {end}" if start or end else "")
        )
    rows["flow_date"] = pd.to_datetime(rows["flow_date"])
    return rows


def gold_or_none(
    spark: SparkSession,
    settings: Settings,
    name: str,
    universe: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame | None:
    """gold(), or None when the table is missing or has no rows of the universe (an optional
    input, such as investor_hedge_flows after `mosaic-flows --no-hedge`)."""
    try:
        return gold(spark, settings, name, universe, start, end)
    except InputError:
        return None


def external(spark: SparkSession, settings: Settings, country: str) -> pd.DataFrame | None:
    """External series of a country (None when none were ingested)."""
    path = settings.table_path("external_series")
    if not storage.exists(spark, path):
        return None
    rows: pd.DataFrame = storage.read(spark, path).where(F.col("country") == country).toPandas()
    if rows.empty:
        return None
    rows["date"] = pd.to_datetime(rows["date"])
    return rows
