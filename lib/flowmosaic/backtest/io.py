"""Backtest inputs: strategy / market CSV files, membership files, the country_flows table and
the country_signals table.

Strategy and market files share one layout: the first column holds yyyymmdd dates (header
usually `date`), then one column per ISO2 country; blanks (or NA) are missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.backtest.signal import SignalFrames, signal_frames
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


# --- the country_signals Delta table ----------------------------------------------------------


@dataclass(frozen=True)
class SignalSpec:
    table: str  # a name in tables.TABLES or a path / URI
    universe: str
    signal: str
    version: int | None


def parse_signal_spec(spec: str) -> SignalSpec:
    """'TABLE:UNIVERSE:SIGNAL[@VERSION]', e.g. country_signals:FloPctCtry:FloTrend@4."""
    s = str(spec).strip()
    head, _, tail = s.rpartition(":")
    if not head or ":" not in head.replace("://", ""):
        raise InputError(
            f"--signal {spec!r}: want TABLE:UNIVERSE:SIGNAL[@VERSION], "
            "e.g. country_signals:FloPctCtry:FloTrend"
        )
    table, _, universe = head.rpartition(":")
    signal, at, ver = tail.partition("@")
    if not table or not universe or not signal:
        raise InputError(f"--signal {spec!r}: want TABLE:UNIVERSE:SIGNAL[@VERSION]")
    if at and not ver.isdigit():
        raise InputError(f"--signal {spec!r}: the version after '@' must be a number")
    return SignalSpec(table, universe, signal, int(ver) if at else None)


def signal_rows(
    spark,
    path: str,
    universe: str,
    signals: list[str] | None,
    version: int | None,
    countries: tuple[str, ...] | None = None,
    what: str = "country_signals",
) -> tuple[pd.DataFrame, int]:
    """Long country_signals rows of one universe (of `signals`, default all) at `version`
    (default: the current one) -> (rows, version read)."""
    if not storage.exists(spark, path):
        raise InputError(f"{what}: no Delta table at {path} (run `flowmosaic signals`)")
    current = storage.current_version(spark, path)
    version = current if version is None else version
    if version > current:
        raise InputError(f"{what}: version {version} does not exist at {path} (current {current})")
    df = storage.read(spark, path, version).where(F.col("universe") == universe)
    if signals:
        df = df.where(F.col("signal").isin(list(signals)))
    if countries:
        df = df.where(F.col("country").isin(list(countries)))
    cols = ("date", "country", "signal", "value", "numerator", "denominator")
    rows: pd.DataFrame = df.select(*cols).toPandas()
    return rows, version


def load_signal_from_table(
    spark, settings, spec: str, countries: tuple[str, ...] | None = None
) -> tuple[SignalFrames, dict]:
    """One universe's signal from country_signals (the pinned version, else the current one,
    recorded) -> (SignalFrames, meta) with meta as load_flows_from_table's."""
    ss = parse_signal_spec(spec)
    path = resolve_table_path(settings, ss.table)
    rows, version = signal_rows(
        spark, path, ss.universe, [ss.signal], ss.version, countries, what=f"--signal {spec!r}"
    )
    if rows.empty:
        raise InputError(
            f"--signal {spec!r}: no rows of {ss.signal} for universe {ss.universe} in {path} "
            f"(version {version}; run `flowmosaic signals --universe {ss.universe} "
            f"--signal {ss.signal}`)"
        )
    frames = SignalFrames.from_rows(rows, ss.signal, countries)
    meta = {
        "source": f"{path}:{ss.universe}:{ss.signal}",
        "table_path": path,
        "universe": ss.universe,
        "signal": ss.signal,
        "source_version": version,
        "spec": str(spec),
    }
    return frames, meta


def load_signals_from_table(
    spark,
    settings,
    universe: str,
    names: list[str] | None = None,
    countries: tuple[str, ...] | None = None,
) -> tuple[dict[str, SignalFrames], dict]:
    """Every signal of `names` (default: every one the current version holds for the
    universe) -> ({name: SignalFrames} in the order of docs/signals.md, meta)."""
    path = settings.table_path("country_signals")
    rows, version = signal_rows(
        spark, path, universe, names, None, countries, what=f"country_signals of {universe}"
    )
    where = f"country_signals (universe {universe}, version {version}, {path})"
    frames = signal_frames(rows, names, countries, where)
    return frames, {"table_path": path, "source_version": version}
