"""Fund universes declared in conf/universes.yaml, turned into Spark Column filters.

A universe is an AND of filters on fund attributes (asset class, cross-border mandate,
active/passive, vehicle, domicile in / not in), an optional share-class filter (investor type)
and the `ex_domestic` switch (a fund domiciled in country c does not count toward c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from flowmosaic.config import conf_dir, read_yaml
from flowmosaic.errors import ConfigError

INVESTOR_TYPES: tuple[str, ...] = ("Institutional", "Retail")
# Allowed values per list-valued key; None means "any ISO2 code".
LIST_KEYS: dict[str, tuple[str, ...] | None] = {
    # equity, bond, multi-asset, money market, alternative
    "asset_class": ("E", "B", "M", "MM", "A"),
    "active_passive": ("A", "P"),
    "vehicle": ("ETF", "MF"),
    "investor_type": INVESTOR_TYPES,
    "domicile_in": None,
    "domicile_not_in": None,
}
BOOL_KEYS = ("cross_border", "ex_domestic")
TEXT_KEYS = ("description",)
_ISO2 = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Universe:
    name: str
    description: str = ""
    asset_class: tuple[str, ...] | None = None
    cross_border: bool | None = None
    active_passive: tuple[str, ...] | None = None
    vehicle: tuple[str, ...] | None = None
    investor_type: tuple[str, ...] | None = None
    domicile_in: tuple[str, ...] | None = None
    domicile_not_in: tuple[str, ...] | None = None
    ex_domestic: bool = False

    def fund_filter(self) -> Column:
        """A Column over the funds table's columns: true for the universe's funds."""
        cond = F.lit(True)
        for key, col in (
            ("asset_class", "asset_class"),
            ("active_passive", "active_passive"),
            ("vehicle", "vehicle"),
            ("domicile_in", "domicile"),
        ):
            values = getattr(self, key)
            if values is not None:
                cond = cond & F.col(col).isin(list(values))
        if self.domicile_not_in is not None:
            cond = cond & ~F.coalesce(
                F.col("domicile").isin(list(self.domicile_not_in)), F.lit(False)
            )
        if self.cross_border is not None:
            cond = cond & (F.col("cross_border") == F.lit(self.cross_border))
        # NULL attributes never match a filter
        return F.coalesce(cond, F.lit(False))

    @property
    def investor_types(self) -> tuple[str, ...]:
        return self.investor_type or INVESTOR_TYPES


def _parse_one(name: str, spec: Any, source: str) -> Universe:
    where = f"{source}: universe {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping of filters")
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key in TEXT_KEYS:
            kwargs[key] = str(value)
        elif key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: key {key!r} must be true or false, got {value!r}")
            kwargs[key] = value
        elif key in LIST_KEYS:
            values = value if isinstance(value, list) else [value]
            if not values:
                raise ConfigError(f"{where}: key {key!r} has an empty list")
            allowed = LIST_KEYS[key]
            for v in values:
                ok = (str(v) in allowed) if allowed else bool(_ISO2.match(str(v)))
                if not ok:
                    want = ", ".join(allowed) if allowed else 'two-letter ISO codes, quoted "NO"'
                    raise ConfigError(
                        f"{where}: key {key!r} has unknown value {v!r} (allowed: {want})"
                    )
            kwargs[key] = tuple(str(v) for v in values)
        else:
            known = ", ".join([*TEXT_KEYS, *BOOL_KEYS, *LIST_KEYS])
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {known})")
    return Universe(name=name, **kwargs)


def load_universes(path: str | Path | None = None) -> dict[str, Universe]:
    p = Path(path) if path else conf_dir() / "universes.yaml"
    data = read_yaml(p)
    specs = data.get("universes")
    if not isinstance(specs, dict) or not specs:
        raise ConfigError(f"{p}: expected a non-empty mapping under 'universes'")
    return {str(name): _parse_one(str(name), spec, str(p)) for name, spec in specs.items()}


def select_universes(names: str | list[str], path: str | Path | None = None) -> list[Universe]:
    """'A,B' or ['A', 'B'] -> the declared universes, in the order given."""
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    declared = load_universes(path)
    missing = [n for n in wanted if n not in declared]
    if missing or not wanted:
        raise ConfigError(f"unknown universe(s) {missing}; declared: {', '.join(declared)}")
    return [declared[n] for n in wanted]
