"""YAML configuration -> frozen dataclasses, validated with errors that name the file and key."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from flowmosaic.errors import ConfigError
from flowmosaic.tables import table


def conf_dir() -> Path:
    """The conf/ directory: $FLOWMOSAIC_CONF_DIR, else ./conf, else the one beside the package."""
    env = os.environ.get("FLOWMOSAIC_CONF_DIR")
    if env:
        return Path(env)
    if Path("conf/local.yaml").exists():
        return Path("conf").resolve()
    return Path(__file__).resolve().parents[2] / "conf"


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@dataclass(frozen=True)
class Settings:
    warehouse: str
    master: str = "local[2]"
    app_name: str = "flowmosaic"
    spark_conf: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARN"
    source: str = ""
    remote: str | None = None  # sc://host:port: run on a Spark Connect server

    def table_path(self, name: str) -> str:
        """Where table `name` (see tables.py) lives under this warehouse."""
        return f"{self.warehouse.rstrip('/')}/{table(name).path}"


def _resolve_warehouse(raw: str) -> str:
    # Object-store and HDFS URIs stay as they are; local paths become absolute.
    if "://" in raw:
        return raw
    return str(Path(raw).expanduser().resolve())


def load_settings(path: str | Path | None = None, warehouse: str | None = None,
                  remote: str | None = None) -> Settings:
    """Settings from a YAML file (default conf/local.yaml, or $FLOWMOSAIC_CONF).

    `warehouse` (or $FLOWMOSAIC_WAREHOUSE) overrides the file's warehouse directory, `remote`
    (or $FLOWMOSAIC_REMOTE) its Spark Connect address.
    """
    path = Path(path or os.environ.get("FLOWMOSAIC_CONF") or conf_dir() / "local.yaml")
    data = read_yaml(path)
    unknown = set(data) - {"warehouse", "spark", "log_level", "remote"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}")
    spark = data.get("spark") or {}
    if not isinstance(spark, dict):
        raise ConfigError(f"{path}: 'spark' must be a mapping")
    bad = set(spark) - {"master", "app_name", "conf"}
    if bad:
        raise ConfigError(f"{path}: unknown key(s) under 'spark': {sorted(bad)}")
    wh = warehouse or os.environ.get("FLOWMOSAIC_WAREHOUSE") or data.get("warehouse")
    if not wh:
        raise ConfigError(f"{path}: 'warehouse' is required")
    return Settings(
        warehouse=_resolve_warehouse(str(wh)),
        master=str(spark.get("master", "local[2]")),
        app_name=str(spark.get("app_name", "flowmosaic")),
        spark_conf={str(k): str(v) for k, v in (spark.get("conf") or {}).items()},
        log_level=str(data.get("log_level", "WARN")),
        source=str(path),
        remote=_remote(remote or os.environ.get("FLOWMOSAIC_REMOTE") or data.get("remote"), path),
    )


def _remote(value, path) -> str | None:
    if not value:
        return None
    url = str(value)
    if not url.startswith("sc://"):
        raise ConfigError(f"{path}: remote must be a Spark Connect address sc://HOST:PORT, "
                          f"got {url!r}")
    return url


@dataclass(frozen=True)
class Countries:
    published_order: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]

    def resolve(self, spec: str | None) -> tuple[str, ...]:
        """'G10' (a group), 'AU,CA,...' (a list), or None (all 52, published order)."""
        if not spec:
            return self.published_order
        if spec in self.groups:
            return self.groups[spec]
        codes = tuple(c.strip().upper() for c in spec.split(",") if c.strip())
        unknown = [c for c in codes if c not in self.published_order]
        if unknown:
            raise ConfigError(
                f"unknown country code(s) {unknown} in {spec!r}; use ISO2 codes of the 52 "
                f"or a group ({', '.join(self.groups)})"
            )
        return codes


@lru_cache(maxsize=None)
def load_countries(path: str | None = None) -> Countries:
    p = Path(path) if path else conf_dir() / "countries.yaml"
    data = read_yaml(p)
    order = tuple(data.get("published_order") or ())
    bad = [c for c in order if not (isinstance(c, str) and len(c) == 2 and c.isupper())]
    if bad:
        raise ConfigError(f"{p}: not ISO2 codes: {bad} (quote NO: bare NO is YAML for false)")
    if len(order) != 52 or len(set(order)) != 52:
        raise ConfigError(f"{p}: published_order must list 52 distinct ISO2 codes")
    groups = {k: tuple(v) for k, v in (data.get("groups") or {}).items()}
    for name, members in groups.items():
        missing = [c for c in members if c not in order]
        if missing:
            raise ConfigError(f"{p}: group {name} has codes not in published_order: {missing}")
    return Countries(order, groups)
