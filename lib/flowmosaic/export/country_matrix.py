"""The daily country matrix: country_flows in wide form (flow dates x ISO2 countries).

One layout serves strategy files and market files on disk: the first column holds yyyymmdd
dates (header usually `date`), then one column per ISO2 country; blanks (or NA) are missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import load_countries
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
        raise InputError(
            f"{path}: line {i + 2}: {text.iloc[i]!r} in column "
            f"{raw.name!r} is not a date (want yyyymmdd)"
        )
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
        raise InputError(
            f"{path}: the {what} needs a date column and at least one country "
            f"column; found columns {list(raw.columns)}"
        )
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
        raise InputError(
            f"{path}: line {r + 2}, column {cols[c]}: {body.iat[r, c]!r} is not a number"
        )
    out = pd.DataFrame(values.to_numpy(dtype=float), index=dates, columns=cols)
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise InputError(f"{path}: date {dup:%Y%m%d} appears more than once")
    return out.sort_index()


def write_wide_csv(matrix: pd.DataFrame, path: str | Path) -> Path:
    """Write the layout read_wide_csv reads; floats at repr precision, so it round-trips."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = matrix.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y%m%d")
    out.index.name = "date"
    out.to_csv(path, na_rep="", float_format=None)
    return path


def matrix_from_table(
    spark,
    path: str,
    universe: str,
    version: int | None = None,
    countries: tuple[str, ...] | None = None,
    value: str = "flow_pct",
    what: str = "country_flows",
) -> tuple[pd.DataFrame, int]:
    """Pivot one universe's `value` to wide (index flow_date, columns: `countries` in that
    order, else the countries present in published order) -> (frame, version read).

    The version read is the given one, else the table's current version.
    """
    if not storage.exists(spark, path):
        raise InputError(f"{what}: no Delta table at {path} (run `flowmosaic country-flows`)")
    current = storage.current_version(spark, path)
    version = current if version is None else version
    if version > current:
        raise InputError(
            f"{what}: version {version} does not exist at {path} (current version {current})"
        )
    df = storage.read(spark, path, version)
    # weekly / monthly country flows are dated at period_end
    date = "period_end" if "period_end" in df.columns else "flow_date"
    need = {"universe", date, "country", value}
    if not need <= set(df.columns):
        raise InputError(
            f"{path}: not a country_flows table; lacks {sorted(need - set(df.columns))}"
        )
    sel = df.filter(F.col("universe") == universe)
    if countries:
        sel = sel.filter(F.col("country").isin(list(countries)))
    pdf: pd.DataFrame = sel.select(F.col(date).alias("flow_date"), "country", value).toPandas()
    if pdf.empty:
        present = sorted(r[0] for r in df.select("universe").distinct().collect())
        if universe not in present:
            raise InputError(
                f"{what}: universe {universe!r} is not in {path} (version "
                f"{version}); universes present: {', '.join(present) or 'none'}"
            )
        raise InputError(
            f"{what}: universe {universe!r} has no rows for the countries {list(countries or [])}"
        )
    try:
        wide = pdf.pivot(index="flow_date", columns="country", values=value)
    except ValueError as exc:
        raise InputError(
            f"{path}: universe {universe!r} has more than one row for some "
            f"(flow_date, country): {exc}"
        ) from exc
    if countries:
        cols = list(countries)
    else:
        order = list(load_countries().published_order)
        cols = [c for c in order if c in wide.columns] + sorted(
            c for c in wide.columns if c not in order
        )
    wide = wide.reindex(columns=cols)
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
    wide.columns.name = None
    return wide.sort_index().astype(float), int(version)
