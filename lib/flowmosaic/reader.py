"""Reading the warehouse's Delta tables without a JVM: delta-rs (the `deltalake` package) into
Arrow, pandas or polars. Local warehouses and s3a:// ones (read as s3://, with the settings'
object_storage: endpoint, region, keys) alike. The notebook API (api.py) reads through here;
Spark is for computing, not for looking.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from flowmosaic.config import Settings
from flowmosaic.errors import InputError
from flowmosaic.tables import TABLES

FORMATS = ("pandas", "arrow", "polars")


def delta_uri(settings: Settings, name: str) -> str:
    """Where delta-rs finds table `name`: the same location Spark writes, s3a:// spelled
    s3:// (delta-rs knows the scheme, not Hadoop's connector name)."""
    return re.sub(r"^s3a://", "s3://", settings.table_path(name))


def storage_options(settings: Settings) -> dict[str, str] | None:
    """delta-rs options for an object-store warehouse, from the settings' object_storage
    section (the keys it leaves out come from the usual AWS environment variables)."""
    if not settings.warehouse.startswith("s3a://"):
        return None
    o = settings.object_storage
    opts: dict[str, str] = {}
    endpoint = (
        o.endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        opts["AWS_ALLOW_HTTP"] = str(endpoint.startswith("http://")).lower()
        opts["AWS_REGION"] = o.region or "us-east-1"  # S3-compatible servers ignore it
    elif o.region:
        opts["AWS_REGION"] = o.region
    path_style = o.path_style_access if o.path_style_access is not None else bool(endpoint)
    opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = str(not path_style).lower()
    if o.access_key and o.secret_key:
        opts["AWS_ACCESS_KEY_ID"] = o.access_key
        opts["AWS_SECRET_ACCESS_KEY"] = o.secret_key
    return opts


def delta_table(settings: Settings, name: str, version: int | None = None) -> DeltaTable:
    """Table `name` (tables.py) of the warehouse, at `version` (default: the latest), with a
    clear error when it is not there yet."""
    uri = delta_uri(settings, name)
    try:
        dt_ = DeltaTable(uri, storage_options=storage_options(settings))
    except TableNotFoundError:
        raise InputError(f"{name}: no Delta table at {settings.table_path(name)} yet") from None
    if version is not None:
        if not 0 <= version <= dt_.version():
            raise InputError(
                f"{name}: version {version} does not exist at {settings.table_path(name)} "
                f"(versions 0..{dt_.version()})"
            )
        dt_.load_as_version(version)
    return dt_


def exists(settings: Settings, name: str) -> bool:
    try:
        delta_table(settings, name)
    except InputError:
        return False
    return True


def _converted(data: pa.Table, to: str):
    if to == "arrow":
        return data
    if to == "polars":
        import polars as pl  # optional: only a polars user needs it installed

        return pl.from_arrow(data)
    return data.to_pandas()


def read(
    settings: Settings,
    name: str,
    *,
    version: int | None = None,
    columns: Sequence[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    to: str = "pandas",
) -> Any:
    """Rows of table `name` as pandas (default), Arrow or polars. `filters` are
    (column, op, value) triples ANDed together, e.g. [("universe", "=", "FloPctCtry")]; a
    filter on a partition column skips whole files."""
    if to not in FORMATS:
        raise InputError(f"to= must be one of {', '.join(FORMATS)}, not {to!r}")
    t = delta_table(settings, name, version)
    data = t.to_pyarrow_table(columns=list(columns) if columns else None, filters=filters or None)
    return _converted(data, to)


def window_filters(
    start: dt.date | str | None, end: dt.date | str | None, column: str = "flow_date"
) -> list[tuple[str, str, Any]]:
    """Filters keeping column within [start, end] (either may be None)."""
    out: list[tuple[str, str, Any]] = []
    if start is not None:
        out.append((column, ">=", pd.Timestamp(start).date()))
    if end is not None:
        out.append((column, "<=", pd.Timestamp(end).date()))
    return out


def history(settings: Settings, name: str, limit: int | None = None) -> pd.DataFrame:
    """The table's commits, newest first: version, timestamp (UTC), operation, the job and
    its parameters that flowmosaic records in every commit's metadata, and the operation's
    row counts."""
    rows = []
    for c in delta_table(settings, name).history(limit):
        meta = c.get("userMetadata")
        try:
            parsed = json.loads(meta) if meta else {}
        except (TypeError, ValueError):
            parsed = {"userMetadata": meta}
        metrics = c.get("operationMetrics") or {}
        rows.append(
            {
                "version": c.get("version"),
                "timestamp": pd.to_datetime(c.get("timestamp"), unit="ms", utc=True),
                "operation": c.get("operation"),
                # jobs record "job"; table upkeep records "operation" (maintain)
                "job": (parsed.get("job") or parsed.get("operation"))
                if isinstance(parsed, dict)
                else None,
                "metadata": parsed,
                "rows_written": _number(metrics.get("numOutputRows")),
                "files_added": _number(metrics.get("numFiles") or metrics.get("numAddedFiles")),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "version",
            "timestamp",
            "operation",
            "job",
            "metadata",
            "rows_written",
            "files_added",
        ],
    )


def _number(v) -> float | None:
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def tables(settings: Settings) -> pd.DataFrame:
    """Every table flowmosaic defines, whether the warehouse holds it yet, and if so its
    version, row count (from the log's file statistics: no data read), file count and last
    commit."""
    rows = []
    for name, t in TABLES.items():
        row: dict[str, Any] = {
            "table": name,
            "layer": t.layer,
            "path": settings.table_path(name),
            "description": t.description,
        }
        try:
            d = delta_table(settings, name)
        except InputError:
            rows.append({**row, "exists": False})
            continue
        adds = pa.table(d.get_add_actions(flatten=True))
        last = d.history(1)[0]
        names = adds.schema.names
        records = adds.column("num_records").to_pylist() if "num_records" in names else []
        rows.append(
            {
                **row,
                "exists": True,
                "version": d.version(),
                "rows": int(sum(r for r in records if r is not None)),
                "files": adds.num_rows,
                "last_commit": pd.to_datetime(last.get("timestamp"), unit="ms", utc=True),
                "last_operation": last.get("operation"),
            }
        )
    cols = ["table", "layer", "exists", "version", "rows", "files", "last_commit"]
    out = pd.DataFrame(rows).reindex(
        columns=list(dict.fromkeys([*cols, *(k for r in rows for k in r)]))
    )
    for c in ("version", "rows", "files"):
        out[c] = out[c].astype("Int64")  # absent tables: <NA>, not a float NaN
    return out[cols + [c for c in out.columns if c not in cols]]
