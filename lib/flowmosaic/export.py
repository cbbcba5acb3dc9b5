"""Strategy files, the vendor's daily layout: `Strategies/daily/<Universe>-daily.csv`.

First column the flow date as yyyymmdd, then one column per ISO2 country (published order),
values in percent, empty where a country had no contributing fund, rows ascending.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import Settings, load_countries
from flowmosaic.errors import InputError


def strategy_path(out_dir: str | Path, universe: str) -> Path:
    return Path(out_dir) / "Strategies" / "daily" / f"{universe}-daily.csv"


def country_matrix(spark: SparkSession, settings: Settings, universe: str,
                   countries: tuple[str, ...] | None = None, version: int | None = None,
                   value: str = "flow_pct") -> tuple[pd.DataFrame, int]:
    """The universe's daily country matrix (index: flow dates, columns: countries) and the
    country_flows version it was read at."""
    path = settings.table_path("country_flows")
    if not storage.table_exists(spark, path):
        raise InputError(f"country_flows not found at {path}: run `flowmosaic country-flows`")
    version = storage.current_version(spark, path) if version is None else version
    table = storage.read_table(spark, path, version)
    rows = table.filter(F.col("universe") == universe).select("flow_date", "country", value)
    long = rows.toPandas()
    if long.empty:
        present = [r.universe for r in table.select("universe").distinct().collect()]
        raise InputError(f"universe {universe!r} has no rows in country_flows@{version}; "
                         f"present: {', '.join(sorted(present)) or 'none'}")
    wide = long.pivot(index="flow_date", columns="country", values=value).sort_index()
    cols = countries or load_countries().published_order
    wide = wide.reindex(columns=list(cols))
    wide.index = pd.to_datetime(wide.index)
    wide.index.name = "date"
    return wide, version


def write_strategy_file(matrix: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = matrix.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y%m%d")
    out.index.name = "date"
    # repr-precision floats: the file round-trips to the same doubles
    out.to_csv(path, na_rep="", float_format=None)
    return path


def read_strategy_file(path: str | Path) -> pd.DataFrame:
    """Parse a strategy file (or a file of the same layout, e.g. a market file): a float frame
    indexed by date, columns as in the file. Errors name the file and the bad line."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from exc
    if raw.shape[1] < 2:
        raise InputError(f"{path}: expected a date column then one column per country")
    dates = pd.to_datetime(raw.iloc[:, 0].str.strip(), format="%Y%m%d", errors="coerce")
    if dates.isna().any():
        i = int(dates.isna().to_numpy().argmax())
        raise InputError(f"{path}: line {i + 2}: date {raw.iloc[i, 0]!r} is not yyyymmdd")
    values = raw.iloc[:, 1:].replace({"": None, "NA": None, "NaN": None})
    try:
        values = values.astype(float)
    except ValueError as exc:
        raise InputError(f"{path}: a value is not a number: {exc}") from exc
    values.index = pd.DatetimeIndex(dates, name="date")
    if not values.index.is_monotonic_increasing or values.index.has_duplicates:
        raise InputError(f"{path}: dates must be strictly ascending")
    return values


def export(spark: SparkSession, settings: Settings, universe: str, out_dir: str | Path,
           countries: str | None = None, version: int | None = None) -> tuple[Path, int, int]:
    """Write the universe's strategy file; returns (path, rows, country_flows version)."""
    cols = load_countries().resolve(countries)
    matrix, version = country_matrix(spark, settings, universe, cols, version)
    name = universe if not countries else f"{universe}-{countries.replace(',', '_')}"
    path = write_strategy_file(matrix, strategy_path(out_dir, name))
    return path, len(matrix), version

