"""YAML configuration -> frozen dataclasses, validated with errors that name the file and key."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
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


# Names of values that are credentials (Spark's own spark.redaction.regex, and S3A's keys):
# shown as REDACTED wherever settings are printed (repr, error messages).
SECRET_NAME = re.compile(r"(?i)secret|password|token|access[._]?key|credential")
REDACTED = "*****(redacted)"


def redact_url(url: str) -> str:
    """A Spark Connect address with the value of a `;token=...` parameter hidden."""
    return re.sub(r"(?i)(;token=)[^;/]*", r"\g<1>" + REDACTED, url)


def redact_conf(conf: dict[str, str]) -> dict[str, str]:
    """conf with the values of credential keys (SECRET_NAME) hidden."""
    return {k: REDACTED if SECRET_NAME.search(k) else v for k, v in conf.items()}


@dataclass(frozen=True)
class ObjectStorage:
    """The settings file's `object_storage:` section: how the sessions flowmosaic starts
    itself (local mode) reach s3a:// paths through Hadoop's S3A connector. A key left out
    falls back to the standard AWS environment variable (endpoint: AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL; region: AWS_REGION, AWS_DEFAULT_REGION); credentials left out come from
    S3A's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN], then
    the instance's role). See session.s3a_conf and docs/object-storage.md."""

    endpoint: str | None = None  # http(s)://host:port of an S3-compatible server
    region: str | None = None
    path_style_access: bool | None = None  # default: true with an endpoint, else false
    access_key: str | None = field(default=None, repr=False)  # never printed
    secret_key: str | None = field(default=None, repr=False)
    credentials_provider: str | None = None  # S3A's fs.s3a.aws.credentials.provider
    configured: bool = False  # the section is present (the session gets S3A)


OBJECT_STORAGE_KEYS = (
    "endpoint",
    "region",
    "path_style_access",
    "access_key",
    "secret_key",
    "credentials_provider",
)


@dataclass(frozen=True)
class IngestGuard:
    """The settings file's `ingest:` section: the limits of the guard before a replacement
    (ingest/guard.py, docs/ingest.md "15. The guard before a replacement")."""

    max_rejected_pct: float = 1.0  # a batch rejecting more of its rows stops
    max_drop_pct: float = 10.0  # a replaced unit losing more of what it holds stops


INGEST_KEYS = ("max_rejected_pct", "max_drop_pct")


def _ingest_guard(data: Any, path: Path) -> IngestGuard:
    if data is None:
        return IngestGuard()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: 'ingest' must be a mapping")
    unknown = set(data) - set(INGEST_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) under 'ingest': {sorted(unknown)} "
            f"(known: {', '.join(INGEST_KEYS)})"
        )
    values = {}
    for key in INGEST_KEYS:
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
                raise ConfigError(f"{path}: ingest.{key} must be a percentage 0..100, got {v!r}")
            values[key] = float(v)
    return IngestGuard(**values)


@dataclass(frozen=True)
class Settings:
    warehouse: str
    master: str = "local[2]"
    app_name: str = "flowmosaic"
    spark_conf: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARN"
    source: str = ""
    remote: str | None = None  # sc://host:port: run on a Spark Connect server
    object_storage: ObjectStorage = field(default_factory=ObjectStorage)
    ingest: IngestGuard = field(default_factory=IngestGuard)

    def __repr__(self) -> str:
        # printed settings never show a credential: S3 keys, secret conf values, a token
        return (
            f"Settings(warehouse={self.warehouse!r}, master={self.master!r}, "
            f"app_name={self.app_name!r}, spark_conf={redact_conf(self.spark_conf)!r}, "
            f"log_level={self.log_level!r}, source={self.source!r}, "
            f"remote={redact_url(self.remote) if self.remote else None!r}, "
            f"object_storage={self.object_storage!r}, ingest={self.ingest!r})"
        )

    def table_path(self, name: str) -> str:
        """Where table `name` (see tables.py) lives under this warehouse: a local directory,
        or a URI (s3a://bucket/prefix/silver/funds; s3a://bucket/silver/funds at a bucket's
        root)."""
        return join_path(self.warehouse, table(name).path)


def join_path(base: str, rel: str) -> str:
    """base/rel for a local path or a URI: one '/' between them, the URI's scheme and
    authority kept (s3a://bucket + a/b -> s3a://bucket/a/b)."""
    rel = rel.strip("/")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/*$", base):  # a bare scheme such as file:///
        return base + rel
    return f"{base.rstrip('/')}/{rel}"


def _resolve_warehouse(raw: str, path: Path) -> str:
    # Object-store and HDFS URIs stay as they are (without a trailing '/'); local paths
    # become absolute.
    if "://" not in raw:
        return str(Path(raw).expanduser().resolve())
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/]*)(/.*)?$", raw)
    if not m:
        raise ConfigError(f"{path}: warehouse {raw!r} is not a URI (scheme://authority/path)")
    scheme, authority, rest = m.group(1).lower(), m.group(2), m.group(3) or ""
    if scheme in ("s3a", "s3", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs") and not authority:
        raise ConfigError(f"{path}: warehouse {raw!r} names no bucket ({scheme}://BUCKET/PREFIX)")
    if scheme == "file":
        return raw
    rest = re.sub(r"/+", "/", rest).rstrip("/")
    return f"{scheme}://{authority}{rest}"


def _object_storage(data: Any, path: Path) -> ObjectStorage:
    if data is None:
        return ObjectStorage()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: 'object_storage' must be a mapping")
    unknown = set(data) - set(OBJECT_STORAGE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) under 'object_storage': {sorted(unknown)} "
            f"(known: {', '.join(OBJECT_STORAGE_KEYS)})"
        )

    def text(key: str) -> str | None:
        v = data.get(key)
        return None if v is None or str(v).strip() == "" else str(v).strip()

    endpoint = text("endpoint")
    if endpoint and not re.match(r"^https?://[^/]+", endpoint):
        raise ConfigError(
            f"{path}: object_storage.endpoint must be http(s)://HOST[:PORT], got {endpoint!r}"
        )
    style = data.get("path_style_access")
    if style is not None and not isinstance(style, bool):
        raise ConfigError(f"{path}: object_storage.path_style_access must be true or false")
    access, secret = text("access_key"), text("secret_key")
    if bool(access) != bool(secret):
        raise ConfigError(
            f"{path}: object_storage needs both access_key and secret_key, or "
            "neither (then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    return ObjectStorage(
        endpoint=endpoint,
        region=text("region"),
        path_style_access=style,
        access_key=access,
        secret_key=secret,
        credentials_provider=text("credentials_provider"),
        configured=True,
    )


def load_settings(
    path: str | Path | None = None, warehouse: str | None = None, remote: str | None = None
) -> Settings:
    """Settings from a YAML file (default conf/local.yaml, or $FLOWMOSAIC_CONF).

    `warehouse` (or $FLOWMOSAIC_WAREHOUSE) overrides the file's warehouse directory, `remote`
    (or $FLOWMOSAIC_REMOTE) its Spark Connect address.
    """
    path = Path(path or os.environ.get("FLOWMOSAIC_CONF") or conf_dir() / "local.yaml")
    data = read_yaml(path)
    unknown = set(data) - {"warehouse", "spark", "log_level", "remote", "object_storage", "ingest"}
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
        warehouse=_resolve_warehouse(str(wh), path),
        master=str(spark.get("master", "local[2]")),
        app_name=str(spark.get("app_name", "flowmosaic")),
        spark_conf={str(k): str(v) for k, v in (spark.get("conf") or {}).items()},
        log_level=str(data.get("log_level", "WARN")),
        source=str(path),
        remote=_remote(remote or os.environ.get("FLOWMOSAIC_REMOTE") or data.get("remote"), path),
        object_storage=_object_storage(data.get("object_storage"), path),
        ingest=_ingest_guard(data.get("ingest"), path),
    )


def _remote(value, path) -> str | None:
    if not value:
        return None
    url = str(value)
    if not url.startswith("sc://"):
        raise ConfigError(
            f"{path}: remote must be a Spark Connect address sc://HOST:PORT, "
            f"got {redact_url(url)!r}"
        )
    return url


@dataclass(frozen=True)
class Countries:
    """The destinations a fund can allocate to and the published 52.

    destinations: every ISO 3166-1 alpha-2 code of conf/destinations.yaml (what ingest accepts
    and what the country-flows jobs compute); published_order: the 52 countries of the
    strategy files, in their published order (what export and the backtest show unless asked
    for others); groups: named subsets of the 52 (G10)."""

    published_order: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    destinations: tuple[str, ...]
    names: dict[str, str]
    # destination -> its market class in conf/destinations.yaml (DM, EM, frontier, other)
    markets: dict[str, str] = field(default_factory=dict)
    # destination -> its region in conf/destinations.yaml
    regions: dict[str, str] = field(default_factory=dict)
    # allocation lines that are not countries: normalised spelling -> kind (cash, other,
    # unallocated, supranational), from conf/destinations.yaml's non_country
    non_country: dict[str, str] = field(default_factory=dict)

    def resolve(self, spec: str | None) -> tuple[str, ...]:
        """'G10' (a group), 'AU,VN,...' (any destination codes), or None (the 52, published
        order)."""
        if not spec:
            return self.published_order
        if spec in self.groups:
            return self.groups[spec]
        codes = tuple(c.strip().upper() for c in spec.split(",") if c.strip())
        unknown = [c for c in codes if c not in self.destinations]
        if unknown:
            raise ConfigError(
                f"unknown country code(s) {unknown} in {spec!r}; use ISO 3166-1 alpha-2 codes "
                f"(conf/destinations.yaml) or a group ({', '.join(self.groups)})"
            )
        return codes

    def ordered(self, codes) -> tuple[str, ...]:
        """`codes` in output order: those of the 52 in published order, then the others
        alphabetically."""
        present = set(codes)
        first = [c for c in self.published_order if c in present]
        return (*first, *sorted(present - set(first)))


def _check_iso2(p: Path, codes) -> None:
    bad = [c for c in codes if not (isinstance(c, str) and len(c) == 2 and c.isupper())]
    if bad:
        raise ConfigError(f"{p}: not ISO2 codes: {bad} (quote NO: bare NO is YAML for false)")


def _destinations(
    p: Path,
) -> tuple[tuple[str, ...], dict[str, str], dict[str, str], dict[str, str]]:
    data = read_yaml(p).get("countries") or {}
    _check_iso2(p, data)
    names = {c: str((v or {}).get("name") or c) for c, v in data.items()}
    markets = {c: str((v or {}).get("market") or "other") for c, v in data.items()}
    regions = {c: str((v or {}).get("region") or "") for c, v in data.items()}
    return tuple(sorted(data)), names, markets, regions


def line_label(text: str) -> str:
    """An allocation line's label as compared with the non-country spellings: upper case,
    without spaces, underscores and hyphens ("Cash & equivalents" -> "CASH&EQUIVALENTS")."""
    return re.sub(r"[\s_-]", "", text.strip().upper())


def _non_country(p: Path, destinations: tuple[str, ...]) -> dict[str, str]:
    data = read_yaml(p).get("non_country") or {}
    out: dict[str, str] = {}
    for kind, spellings in data.items():
        for text in spellings or ():
            label = line_label(str(text))
            if label in destinations:
                raise ConfigError(f"{p}: non_country {kind}: {text!r} is a country code")
            out[label] = str(kind)
    return out


def _derived_groups(
    p: Path, data: dict, markets: dict[str, str], regions: dict[str, str], explicit: dict
) -> dict[str, tuple[str, ...]]:
    """The groups over every destination: one per market class of `market_groups` and, with
    `region_groups: true`, one per region. A market group also listed explicitly must have
    the same members."""
    out: dict[str, tuple[str, ...]] = {}
    for m in data.get("market_groups") or ():
        members = tuple(sorted(c for c, v in markets.items() if v == m))
        if not members:
            raise ConfigError(f"{p}: market_groups: no destination has market {m!r}")
        if m in explicit and sorted(explicit[m]) != list(members):
            raise ConfigError(
                f"{p}: group {m} differs from the destinations whose market is {m}: "
                f"{sorted(set(explicit[m]) ^ set(members))}"
            )
        out[m] = members
    if data.get("region_groups"):
        for r in sorted({v for v in regions.values() if v}):
            out[r] = tuple(sorted(c for c, v in regions.items() if v == r))
    return out


@cache
def load_countries(path: str | None = None) -> Countries:
    p = Path(path) if path else conf_dir() / "countries.yaml"
    data = read_yaml(p)
    order = tuple(data.get("published_order") or ())
    _check_iso2(p, order)
    if len(order) != 52 or len(set(order)) != 52:
        raise ConfigError(f"{p}: published_order must list 52 distinct ISO2 codes")
    groups = {k: tuple(v) for k, v in (data.get("groups") or {}).items()}
    for name, members in groups.items():
        missing = [c for c in members if c not in order]
        if missing:
            raise ConfigError(f"{p}: group {name} has codes not in published_order: {missing}")
    dest_path = p.parent / "destinations.yaml"
    if not dest_path.exists():  # a countries file of its own: its 52 are the destinations
        return Countries(order, groups, order, {})
    destinations, names, markets, regions = _destinations(dest_path)
    missing = [c for c in order if c not in names]
    if missing:
        raise ConfigError(f"{dest_path}: the published countries {missing} are not listed")
    derived = _derived_groups(p, data, markets, regions, groups)
    groups = {**derived, **groups}  # explicit order of members wins (G10, DM)
    non_country = _non_country(dest_path, destinations)
    return Countries(order, groups, destinations, names, markets, regions, non_country)


@cache
def load_currencies(path: str | None = None) -> tuple[str, ...]:
    """The ISO 4217 codes of conf/currencies.yaml: what a share class's Currency may be."""
    p = Path(path) if path else conf_dir() / "currencies.yaml"
    data = read_yaml(p).get("currencies") or {}
    bad = [
        c for c in data if not (isinstance(c, str) and len(c) == 3 and c.isalpha() and c.isupper())
    ]
    if bad:
        raise ConfigError(f"{p}: not ISO 4217 codes: {bad}")
    return tuple(sorted(data))
