"""Strategy files, the vendor's daily layout: `Strategies/daily/<Universe>-daily.csv`.

First column the flow date as yyyymmdd, then one column per ISO2 country (published order),
values in percent, empty where a country had no contributing fund, rows ascending.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from flowmosaic.config import Settings, load_countries
from flowmosaic.export.country_matrix import matrix_from_table, read_wide_csv, write_wide_csv


def strategy_path(out_dir: str | Path, universe: str) -> Path:
    return Path(out_dir) / "Strategies" / "daily" / f"{universe}-daily.csv"


def country_matrix(
    spark: SparkSession,
    settings: Settings,
    universe: str,
    countries: tuple[str, ...] | None = None,
    version: int | None = None,
    value: str = "flow_pct",
) -> tuple[pd.DataFrame, int]:
    """The universe's daily country matrix with every asked country as a column (all 52 in
    published order by default, empty where no fund contributed) and the version it was read at."""
    cols = countries or load_countries().published_order
    return matrix_from_table(
        spark, settings.table_path("country_flows"), universe, version, tuple(cols), value
    )


def write_strategy_file(matrix: pd.DataFrame, path: str | Path) -> Path:
    return write_wide_csv(matrix, path)


def read_strategy_file(path: str | Path) -> pd.DataFrame:
    return read_wide_csv(path, "strategy file")


def export_universe(
    spark: SparkSession,
    settings: Settings,
    universe: str,
    out_dir: str | Path,
    countries: str | None = None,
    version: int | None = None,
) -> tuple[Path, int, int]:
    """Write the universe's strategy file; returns (path, rows, country_flows version)."""
    cols = load_countries().resolve(countries)
    matrix, version = country_matrix(spark, settings, universe, cols, version)
    name = universe if not countries else f"{universe}-{countries.replace(',', '_')}"
    path = write_strategy_file(matrix, strategy_path(out_dir, name))
    return path, len(matrix), version
