"""Country groups (regions, DM / EM / frontier, G10, ...) from the country rows of a universe:
a group's flow % is the ratio of its members' sums, 100 x sum(flow_usd) / sum(assets_start_usd)
over the member countries with a row that day, never an average of the members' percentages
(docs/methodology.md, "10. Countries and country groups")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import Countries, Settings, load_countries
from flowmosaic.errors import InputError
from flowmosaic.export.country_matrix import write_wide_csv


def resolve_groups(spec: str | None, countries: Countries | None = None) -> dict[str, tuple]:
    """'regions', 'markets', a comma-separated list of group names, or None (every group)."""
    c = countries or load_countries()
    regions = sorted({r for r in c.regions.values() if r and r in c.groups})
    markets = [m for m in ("DM", "EM", "frontier") if m in c.groups]
    if not spec:
        return dict(c.groups)
    names: list[str] = []
    for part in (x.strip() for x in spec.split(",") if x.strip()):
        names += regions if part == "regions" else markets if part == "markets" else [part]
    unknown = [n for n in names if n not in c.groups]
    if unknown:
        raise InputError(
            f"unknown group(s) {unknown}; known: regions, markets, {', '.join(c.groups)}"
        )
    return {n: c.groups[n] for n in names}


def group_flows(
    rows: pd.DataFrame, groups: dict[str, tuple], date: str = "flow_date"
) -> pd.DataFrame:
    """Long country rows (date, country, flow_usd, assets_start_usd) -> long group rows
    (date, group, flow_usd, assets_start_usd, flow_pct, countries): the sums over the members
    with a row that date, their ratio in percent (NaN where the assets sum to 0)."""
    parts = []
    for name, members in groups.items():
        mine = rows[rows["country"].isin(members)]
        g = mine.groupby(date, as_index=False).agg(
            flow_usd=("flow_usd", "sum"),
            assets_start_usd=("assets_start_usd", "sum"),
            countries=("country", "size"),
        )
        g.insert(1, "group", name)
        parts.append(g)
    cols = [date, "group", "flow_usd", "assets_start_usd", "countries"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    den = out["assets_start_usd"].astype(float)
    out["flow_pct"] = np.where(den != 0, 100.0 * out["flow_usd"] / den.where(den != 0), np.nan)
    return out.sort_values([date, "group"], kind="stable").reset_index(drop=True)


def export_groups(
    spark: SparkSession,
    settings: Settings,
    universe: str,
    out_dir: str | Path,
    spec: str | None,
    version: int | None = None,
) -> tuple[Path, int, int]:
    """`Strategies/daily/<universe>-groups.csv`: flow dates x groups, flow % of each group
    (the ratio of sums); returns (path, rows, country_flows version)."""
    groups = resolve_groups(spec)
    path = settings.table_path("country_flows")
    if not storage.exists(spark, path):
        raise InputError(
            f"country_flows: no Delta table at {path} (run `flowmosaic country-flows`)"
        )
    version = storage.current_version(spark, path) if version is None else version
    members = sorted({c for m in groups.values() for c in m})
    rows: pd.DataFrame = (
        storage.read(spark, path, version)
        .where((F.col("universe") == universe) & F.col("country").isin(members))
        .select("flow_date", "country", "flow_usd", "assets_start_usd")
        .toPandas()
    )
    if rows.empty:
        raise InputError(f"country_flows@{version}: no rows of universe {universe!r} in the groups")
    long = group_flows(rows, groups)
    wide = long.pivot(index="flow_date", columns="group", values="flow_pct")
    wide = wide.reindex(columns=[g for g in groups if g in wide.columns])
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
    wide.columns.name = None
    target = Path(out_dir) / "Strategies" / "daily" / f"{universe}-groups.csv"
    return write_wide_csv(wide.sort_index(), target), len(wide), version
