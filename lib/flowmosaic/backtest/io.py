"""Backtest inputs: strategy / market CSV files, membership files, and the country_flows table.

Strategy and market files share one layout: the first column holds yyyymmdd dates (header
usually `date`), then one column per ISO2 country; blanks (or NA) are missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flowmosaic.errors import InputError
from flowmosaic.export.country_matrix import matrix_from_table, read_wide_csv
from flowmosaic.export.strategy_files import read_strategy_file
from flowmosaic.tables import TABLES

__all__ = ["read_strategy_file", "read_market_file", "read_membership", "load_flows_from_table"]


def read_market_file(path: str | Path) -> pd.DataFrame:
    """Daily market series per country (index levels, % daily returns, or yields)."""
    return read_wide_csv(path, "returns file")


def read_membership(path: str | Path) -> pd.DataFrame:
    """Universe membership: columns country, from, to (yyyymmdd or yyyy-mm-dd; blank to = open)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"membership file not found: {path}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = {"country", "from", "to"} - set(raw.columns)
    if missing:
        raise InputError(
            f"{path}: membership file lacks column(s) {sorted(missing)}; want country,from,to"
        )
    out = pd.DataFrame({"country": raw["country"].str.strip().str.upper()})
    for col in ("from", "to"):
        text = raw[col].str.strip()
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        iso = parsed.isna() & (text != "")
        if iso.any():
            parsed[iso] = pd.to_datetime(text[iso], format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna() & (text != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {i + 2}: {col} {text.iloc[i]!r} is not a date")
        out[col] = parsed
    return out


# --- the country_flows Delta table ------------------------------------------------------------


@dataclass(frozen=True)
class FlowSpec:
    table: str  # a name in tables.TABLES or a path / URI
    universe: str
    version: int | None


def is_table_spec(spec: str) -> bool:
    """A 'TABLE:UNIVERSE[@VERSION]' spec rather than a CSV file."""
    s = str(spec)
    if s.lower().endswith(".csv") or Path(s).is_file():
        return False
    return ":" in s.replace("://", "")


def parse_flow_spec(spec: str) -> FlowSpec:
    s = str(spec).strip()
    if ":" not in s.replace("://", ""):
        raise InputError(f"--flows {spec!r}: want TABLE:UNIVERSE[@VERSION] or a CSV file")
    table, _, rest = s.rpartition(":")
    universe, at, ver = rest.partition("@")
    if not table or not universe:
        raise InputError(
            f"--flows {spec!r}: want TABLE:UNIVERSE[@VERSION], e.g. country_flows:FloPctCtry-B@3"
        )
    version = None
    if at:
        if not ver.isdigit():
            raise InputError(f"--flows {spec!r}: the version after '@' must be a number")
        version = int(ver)
    return FlowSpec(table, universe, version)


def resolve_table_path(settings, table: str) -> str:
    """A table name of the warehouse (tables.py), or a path / URI as given."""
    return settings.table_path(table) if table in TABLES else table


def load_flows_from_table(
    spark, settings, spec: str, countries: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Pivot one universe's flow_pct to wide (index flow_date, columns in published order).

    Returns (frame, meta) with meta = {source, table_path, universe, source_version}; the
    version read is the pinned one, else the table's current version (recorded).
    """
    fs = parse_flow_spec(spec)
    path = resolve_table_path(settings, fs.table)
    wide, version = matrix_from_table(
        spark, path, fs.universe, fs.version, countries, what=f"--flows {spec!r}"
    )
    if countries:  # the countries that have data, in the order asked
        wide = wide.dropna(axis=1, how="all")
    meta = {
        "source": f"{path}:{fs.universe}",
        "table_path": path,
        "universe": fs.universe,
        "source_version": version,
        "spec": str(spec),
    }
    return wide, meta
