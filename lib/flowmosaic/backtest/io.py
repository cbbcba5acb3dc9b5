"""Backtest inputs: strategy / market CSV files, membership files, and the country_flows table.

Strategy and market files share one layout: the first column holds yyyymmdd dates (header
usually `date`), then one column per ISO2 country; blanks (or NA) are missing values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flowmosaic.errors import InputError

_ISO2 = re.compile(r"^[A-Z]{2}$")
_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "#N/A"]


def _parse_dates(raw: pd.Series, path: Path) -> pd.DatetimeIndex:
    text = raw.astype(str).str.strip()
    parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    iso = parsed.isna()
    if iso.any():  # also accept yyyy-mm-dd
        parsed[iso] = pd.to_datetime(text[iso], format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: line {i + 2}: {text.iloc[i]!r} in column "
                         f"{raw.name!r} is not a date (want yyyymmdd)")
    return pd.DatetimeIndex(parsed, name="date")


def read_wide_csv(path: str | Path, what: str = "file") -> pd.DataFrame:
    """A date column then ISO2 columns -> float frame indexed by date (ascending)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=_NA)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} as CSV: {exc}") from exc
    if raw.shape[1] < 2:
        raise InputError(f"{path}: the {what} needs a date column and at least one country "
                         f"column; found columns {list(raw.columns)}")
    dates = _parse_dates(raw.iloc[:, 0], path)
    cols = [str(c).strip().upper() for c in raw.columns[1:]]
    bad = [c for c in cols if not _ISO2.match(c)]
    if bad:
        raise InputError(f"{path}: column(s) {bad} are not ISO2 country codes")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise InputError(f"{path}: column(s) {dup} appear more than once")
    body = raw.iloc[:, 1:]
    values = body.apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    nonnum = values.isna() & body.notna() & (body.apply(lambda s: s.str.strip()) != "")
    if nonnum.to_numpy().any():
        r, c = np.argwhere(nonnum.to_numpy())[0]
        raise InputError(f"{path}: line {r + 2}, column {cols[c]}: "
                         f"{body.iat[r, c]!r} is not a number")
    out = pd.DataFrame(values.to_numpy(dtype=float), index=dates, columns=cols)
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise InputError(f"{path}: date {dup:%Y%m%d} appears more than once")
    return out.sort_index()


def read_strategy_file(path: str | Path) -> pd.DataFrame:
    """Daily country flow % (the published strategy-file layout)."""
    return read_wide_csv(path, "strategy file")


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
        raise InputError(f"{path}: membership file lacks column(s) {sorted(missing)}; "
                         f"want country,from,to")
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
    table: str  # a name in config.TABLES or a path / URI
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
        raise InputError(f"--flows {spec!r}: want TABLE:UNIVERSE[@VERSION], "
                         "e.g. country_flows:FloPctCtry-B@3")
    version = None
    if at:
        if not ver.isdigit():
            raise InputError(f"--flows {spec!r}: the version after '@' must be a number")
        version = int(ver)
    return FlowSpec(table, universe, version)


def resolve_table_path(settings, table: str) -> str:
    from flowmosaic.config import TABLES
    if table in TABLES:
        return settings.table_path(table)
    return table


def load_flows_from_table(spark, settings, spec: str,
                          countries: tuple[str, ...] | None = None
                          ) -> tuple[pd.DataFrame, dict]:
    """Pivot one universe's flow_pct to wide (index flow_date, columns in published order).

    Returns (frame, meta) with meta = {source, table_path, universe, source_version}; the
    version read is the pinned one, else the table's current version (recorded).
    """
    from pyspark.sql import functions as F

    from flowmosaic import storage
    from flowmosaic.config import load_countries

    fs = parse_flow_spec(spec)
    path = resolve_table_path(settings, fs.table)
    if not storage.table_exists(spark, path):
        raise InputError(f"--flows {spec!r}: no Delta table at {path}")
    current = storage.current_version(spark, path)
    version = current if fs.version is None else fs.version
    if version > current:
        raise InputError(f"--flows {spec!r}: version {version} does not exist at {path} "
                         f"(current version {current})")
    df = storage.read_table(spark, path, version)
    need = {"universe", "flow_date", "country", "flow_pct"}
    if not need <= set(df.columns):
        lacking = sorted(need - set(df.columns))
        raise InputError(f"{path}: not a country_flows table; lacks {lacking}")
    sel = df.filter(F.col("universe") == fs.universe)
    if countries:
        sel = sel.filter(F.col("country").isin(list(countries)))
    pdf = sel.select("flow_date", "country", "flow_pct").toPandas()
    if pdf.empty:
        present = sorted(r[0] for r in df.select("universe").distinct().collect())
        if fs.universe not in present:
            raise InputError(f"--flows {spec!r}: universe {fs.universe!r} is not in {path} "
                             f"(version {version}); universes present: "
                             f"{', '.join(present) or 'none'}")
        raise InputError(f"--flows {spec!r}: universe {fs.universe!r} has no rows for the "
                         f"countries {list(countries or [])}")
    try:
        wide = pdf.pivot(index="flow_date", columns="country", values="flow_pct")
    except ValueError as exc:
        raise InputError(f"{path}: universe {fs.universe!r} has more than one row for some "
                         f"(flow_date, country): {exc}") from exc
    order = list(load_countries().published_order)
    cols = [c for c in order if c in wide.columns] + sorted(c for c in wide.columns
                                                            if c not in order)
    if countries:
        cols = [c for c in countries if c in wide.columns]
    wide = wide.reindex(columns=cols)
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
    wide.columns.name = None
    meta = {"source": f"{path}:{fs.universe}", "table_path": path, "universe": fs.universe,
            "source_version": int(version), "spec": str(spec)}
    return wide.sort_index().astype(float), meta
