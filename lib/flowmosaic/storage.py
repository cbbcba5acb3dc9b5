"""All Delta and file-system access, at the edge: create a table from its definition, read a
pinned version, replace a window, append, merge, commit information, file listings.

This is the only module that touches Spark internals (the JVM's Hadoop FileSystem, for cheap
listings; DeltaLog.checkpoint(), which has no SQL form). Everything here also works over Spark
Connect, where there is no JVM on the client: there the same facts come from SQL (DESCRIBE
HISTORY) instead, and an explicit checkpoint is skipped.

Paths are local directories or URIs (file:, s3a://bucket/prefix, hdfs:, abfss: ...): local
ones are read with os, every other one through the Hadoop FileSystem of its scheme in the
session's JVM (S3A for s3a://: one LIST for a table's _delta_log, one GET for a commit file).

Every write records what produced it in the commit's userMetadata (JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar
from flowmosaic.config import Settings
from flowmosaic.errors import ConcurrentWriteError, InputError
from flowmosaic.tables import Table, table

T = TypeVar("T")


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (no JVM on this side)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def local_path(path: str) -> str | None:
    """The local file-system path of a path or file: URI; None for other schemes."""
    if path.startswith("file:"):
        return unquote(urlparse(path).path) or "/"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        return None
    return path


def canonical_uri(uri: str) -> str:
    """One spelling per file: Hadoop writes file:/x and file:///x for the same local file."""
    return re.sub(r"^file:/+", "file:///", uri)


def _meta(metadata: dict[str, Any] | None) -> str:
    return json.dumps(metadata or {}, sort_keys=True, default=str)


def _sql_path(path: str) -> str:
    return "delta." + sql_name(path)


# --- the JVM's Hadoop file system (classic sessions only) ----------------------------------------


def _jvm(spark: SparkSession) -> Any:
    """The py4j view of a classic session's JVM."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("this Spark session has no JVM gateway")
    return jvm


def _hadoop(spark: SparkSession, path: str):
    """(FileSystem, Path) for a path, through the session's Hadoop configuration."""
    p = _jvm(spark).org.apache.hadoop.fs.Path(path)
    jsc: Any = spark.sparkContext._jsc
    return p.getFileSystem(jsc.hadoopConfiguration()), p


def _is_not_found(exc: BaseException) -> bool:
    return "FileNotFoundException" in f"{type(exc).__name__}: {exc}"


def _hadoop_names(spark: SparkSession, path: str) -> list[str]:
    """Names of the entries of a directory through Hadoop; [] when it does not exist."""
    fs, p = _hadoop(spark, path)
    try:
        return [st.getPath().getName() for st in fs.listStatus(p)]
    except Exception as exc:  # py4j wraps the JVM's exception
        if _is_not_found(exc):
            return []
        raise


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small file's text (a commit file): with os when it is local, through Hadoop
    otherwise (classic sessions); None when it does not exist."""
    local = local_path(path)
    if local is not None:
        try:
            with open(local, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
    if is_connect(spark):
        return None
    fs, p = _hadoop(spark, path)
    try:
        stream = fs.open(p)
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise
    try:
        data = _jvm(spark).org.apache.hadoop.io.IOUtils.readFullyToByteArray(stream)
        return bytes(data).decode("utf-8")
    finally:
        stream.close()


@dataclass(frozen=True)
class FileEntry:
    uri: str  # canonical URI
    local: str | None  # local path, when the file is local
    size: int
    name: str


def path_exists(spark: SparkSession, path: str) -> bool:
    local = local_path(path)
    if local is not None:
        return os.path.exists(local)
    if is_connect(spark):
        try:
            spark.read.format("binaryFile").load(path).limit(0).collect()
            return True
        except Exception:
            return False
    fs, p = _hadoop(spark, path)
    return bool(fs.exists(p))


def list_files(spark: SparkSession, path: str) -> tuple[str, bool, list[FileEntry]]:
    """(canonical URI of path, is a directory, data files below it sorted by URI). Names and
    directories starting with '_' or '.' (_SUCCESS, _delta_log, .crc) are never data."""

    def hidden(rel: str) -> bool:
        return any(part.startswith(("_", ".")) for part in rel.split("/") if part)

    local = local_path(path)
    if local is not None:
        local = os.path.abspath(local)
        base = canonical_uri("file://" + local)
        if not os.path.isdir(local):
            return (
                base,
                False,
                [FileEntry(base, local, os.path.getsize(local), os.path.basename(local))],
            )
        out = []
        for root, dirs, files in os.walk(local):
            dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
            for f in files:
                full = os.path.join(root, f)
                if not hidden(os.path.relpath(full, local)):
                    out.append(
                        FileEntry(canonical_uri("file://" + full), full, os.path.getsize(full), f)
                    )
        return base, True, sorted(out, key=lambda e: e.uri)
    if is_connect(spark):
        rows = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(path)
            .select("path", "length")
            .collect()
        )
        entries = [
            FileEntry(canonical_uri(r.path), None, int(r.length), r.path.rsplit("/", 1)[-1])
            for r in rows
        ]
        base = path.rstrip("/")
        entries = [e for e in entries if not hidden(e.uri[len(base) :])]
        is_dir = not (len(entries) == 1 and entries[0].uri.rstrip("/") == base)
        return base, is_dir, sorted(entries, key=lambda e: e.uri)
    fs, p = _hadoop(spark, path)
    q = fs.makeQualified(p)
    status = fs.getFileStatus(q)
    base = canonical_uri(q.toUri().toString())
    if not status.isDirectory():
        entry = FileEntry(base, None, int(status.getLen()), status.getPath().getName())
        return base, False, [entry]
    out, it = [], fs.listFiles(q, True)
    while it.hasNext():
        st = it.next()
        uri = canonical_uri(st.getPath().toUri().toString())
        if not hidden(uri[len(base) :]):
            out.append(FileEntry(uri, None, int(st.getLen()), st.getPath().getName()))
    return base, True, sorted(out, key=lambda e: e.uri)


# --- tables ------------------------------------------------------------------------------------


def _log_versions(spark: SparkSession, path: str) -> list[int] | None:
    """Commit versions in _delta_log by listing it (None when the listing is not possible)."""
    local = local_path(path)
    if local is not None:
        d = os.path.join(local, "_delta_log")
        names = os.listdir(d) if os.path.isdir(d) else []
    elif is_connect(spark):
        return None
    else:  # one listing (S3: a LIST request); a missing directory is no table
        names = _hadoop_names(spark, f"{path.rstrip('/')}/_delta_log")
    return [int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()]


def exists(spark: SparkSession, path: str) -> bool:
    """A Delta table is at path when its _delta_log holds a commit."""
    versions = _log_versions(spark, path)
    if versions is not None:
        return bool(versions)
    try:
        spark.sql(f"DESCRIBE HISTORY {_sql_path(path)} LIMIT 1").collect()
        return True
    except Exception:
        return False


def current_version(spark: SparkSession, path: str) -> int:
    """The table's latest version: the newest commit file (the protocol keeps it even after
    checkpoints and log clean-up); over Connect, from the history."""
    versions = _log_versions(spark, path)
    if versions is None:
        row = spark.sql(f"DESCRIBE HISTORY {_sql_path(path)} LIMIT 1").first()
        if row is None:
            raise InputError(f"no Delta table at {path}")
        return int(row["version"])
    if not versions:
        raise InputError(f"no Delta table at {path}")
    return max(versions)


def commit_stamp(path: str, version: int) -> int | None:
    """When the commit file of `version` was written (ns), for a local table; None elsewhere.
    With the version it tells a table apart from another one later created at the same path."""
    local = local_path(path)
    if local is None:
        return None
    try:
        return os.stat(os.path.join(local, "_delta_log", f"{version:020d}.json")).st_mtime_ns
    except OSError:
        return None


def commit_info(spark: SparkSession, path: str, version: int | None = None) -> dict[str, Any]:
    """commitInfo of a version (default: the latest): operation, operationMetrics (as
    strings), userMetadata. Read from the commit file (locally or through Hadoop: one GET on
    S3), else (over Connect, or a commit file cleaned up) from the history."""
    version = current_version(spark, path) if version is None else version
    try:
        text = read_text(spark, f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
    except OSError:
        text = None
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
            info["operationMetrics"] = {
                k: str(v) for k, v in (info.get("operationMetrics") or {}).items()
            }
            info["version"] = version
            return info
    rows = spark.sql(f"DESCRIBE HISTORY {_sql_path(path)}").where(f"version = {int(version)}")
    row = rows.first()
    if row is None:
        raise InputError(f"{path}: no version {version}")
    return {
        "version": version,
        "operation": row["operation"],
        "operationMetrics": dict(row["operationMetrics"] or {}),
        "userMetadata": row["userMetadata"],
    }


def _ddl_type(field) -> str:
    return field.dataType.simpleString().upper()


def ensure(spark: SparkSession, settings: Settings, name: str) -> str:
    """Create the table `name` (tables.TABLES) if it is not there yet; returns its path. The
    definition's CHECK constraints and properties are set in the creating commit."""
    t: Table = table(name)
    path = settings.table_path(name)
    if exists(spark, path):
        if t.generated:  # a layout change of this release: say so instead of a Delta error
            missing = [g.name for g in t.generated if g.name not in read(spark, path).columns]
            if missing:
                raise InputError(
                    f"{name} at {path} has the layout of an older flowmosaic (no "
                    f"{', '.join(missing)} column; it is now partitioned by "
                    f"{', '.join(t.partition_by)}): it holds derived rows only, so delete "
                    f"that directory and rerun the job that writes it"
                )
        return path
    cols = ", ".join(
        [f"`{f.name}` {_ddl_type(f)}{'' if f.nullable else ' NOT NULL'}" for f in t.schema.fields]
        + [
            f"`{g.name}` {g.dtype.simpleString().upper()} GENERATED ALWAYS AS ({g.expression})"
            for g in t.generated
        ]
    )
    props = {**t.properties, **{f"delta.constraints.{k}": v for k, v in t.constraints.items()}}
    props_sql = ", ".join(f"'{k}' = '{_escape(v)}'" for k, v in props.items())
    parts = f" PARTITIONED BY ({', '.join(t.partition_by)})" if t.partition_by else ""
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {_sql_path(path)} ({cols}) USING DELTA{parts} "
        f"TBLPROPERTIES ({props_sql})"
    )

    def create() -> None:
        # Two jobs creating the table at once: Delta fails the later commit of version 0
        # (DELTA_PROTOCOL_CHANGED) despite IF NOT EXISTS; the retry finds the table there.
        # The later job can also see the other's _delta_log before its first commit is in
        # (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION): retried the same way, unless the
        # directory holds other files, which no job of ours put there.
        if exists(spark, path):
            return
        try:
            spark.sql(ddl)
        except Exception as exc:
            if "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION" not in str(exc):
                raise
            others = [] if is_connect(spark) else _hadoop_names(spark, path)
            others = [n for n in others if n != "_delta_log"]
            if others:
                raise InputError(
                    f"{name}: {path} is not a Delta table but holds files "
                    f"({', '.join(sorted(others)[:5])}): move them away or point "
                    f"the warehouse elsewhere"
                ) from exc
            raise TableMoved(f"{name} is being created by another job") from exc

    retrying(spark, path, create, {"window": "the table's creation"})
    return path


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


def date_window_predicate(
    start: dt.date, end: dt.date, date_col: str, month_col: str, keys: str = ""
) -> str:
    """The replaceWhere predicate of the dates [start, end] of a table partitioned by
    `month_col` (the first day of `date_col`'s month), after `keys` (e.g. "universe IN (...)").

    The tables this serves have no row dated before its month's first flow date or after its
    last (rows on flow dates; monthly signals on the 23rd, which lies between the two in every
    month): when `start` is the first flow date of its month (or earlier) and `end` the last
    flow date of its month (or later), the window is whole month partitions and the predicate
    names the partitions only. Delta then replaces them from the
    log alone, reading and rewriting no file; otherwise the date bounds are added, and the
    month bounds stay (Delta's conflict check looks at partitions, so windows of other months
    never conflict)."""
    m_lo, m_hi = calendar.month_start(start), calendar.month_start(end)
    parts = [keys] if keys else []
    if calendar.flow_dates(m_lo, start - dt.timedelta(days=1)) or calendar.flow_dates(
        end + dt.timedelta(days=1), calendar.month_end(m_hi)
    ):
        parts += [f"{date_col} >= DATE'{start}'", f"{date_col} <= DATE'{end}'"]
    parts += [f"{month_col} >= DATE'{m_lo}'", f"{month_col} <= DATE'{m_hi}'"]
    return " AND ".join(parts)


def sql_string(s: str) -> str:
    """A SQL string literal."""
    return "'" + _escape(s) + "'"


def sql_name(name: str) -> str:
    """A name (a column, a path) quoted for SQL."""
    return "`" + name.replace("`", "``") + "`"


def read(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    return reader.load(path)


def read_table(
    spark: SparkSession, settings: Settings, name: str, version: int | None = None
) -> DataFrame:
    path = settings.table_path(name)
    if not exists(spark, path):
        raise InputError(f"table {name} not found at {path}")
    return read(spark, path, version)


@dataclass
class Written:
    """What a commit did: version, rows written (new), rows copied from rewritten files,
    rows deleted (replaced), files added and removed."""

    version: int
    operation: str
    written: int
    copied: int = 0
    deleted: int = 0
    files_added: int = 0
    files_removed: int = 0

    @classmethod
    def from_commit(cls, info: dict[str, Any]) -> Written:
        m = {
            k: int(v)
            for k, v in (info.get("operationMetrics") or {}).items()
            if str(v).lstrip("-").isdigit()
        }
        copied = m.get("numCopiedRows", 0)
        if "numTargetRowsInserted" in m:  # MERGE
            written = m.get("numTargetRowsInserted", 0) + m.get("numTargetRowsUpdated", 0)
            copied = m.get("numTargetRowsCopied", 0)
        else:
            written = m.get("numOutputRows", 0) - copied
        return cls(
            int(info["version"]),
            str(info.get("operation", "")),
            written,
            copied,
            m.get("numDeletedRows", m.get("numTargetRowsDeleted", 0)),
            m.get("numAddedFiles", m.get("numFiles", m.get("numTargetFilesAdded", 0))),
            m.get("numRemovedFiles", m.get("numTargetFilesRemoved", 0)),
        )


# Delta's concurrent-modification errors (error classes, and the exception names they come in)
CONFLICTS = (
    "DELTA_CONCURRENT_APPEND",
    "DELTA_CONCURRENT_DELETE_READ",
    "DELTA_CONCURRENT_DELETE_DELETE",
    "DELTA_METADATA_CHANGED",
    "DELTA_CONCURRENT_TRANSACTION",
    "DELTA_CONCURRENT_WRITE",
    "DELTA_PROTOCOL_CHANGED",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "MetadataChangedException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "ProtocolChangedException",
    "TableMoved",  # ours: a read-modify-write saw the table change before it wrote
)
RETRY_ATTEMPTS = 6
RETRY_BACKOFF_S = 0.5


def is_conflict(exc: BaseException) -> bool:
    """Another writer committed first to the part of the table this write read."""
    text = f"{type(exc).__name__}: {exc}"
    return any(c in text for c in CONFLICTS)


class TableMoved(Exception):
    """A read-modify-write found the table at a newer version than the one it read: the
    caller's attempt is stale and is retried like a Delta conflict."""


def retrying(
    spark: SparkSession, path: str, write: Callable[[], T], metadata: dict[str, Any] | None
) -> T:
    """Run write() and return what it returns; when it loses to a concurrent writer, wait
    (exponential backoff with jitter) and run it again: the write re-plans against the table
    as the other writer left it. After RETRY_ATTEMPTS, ConcurrentWriteError names the table,
    this write's window and the other writer's operation; a failed commit leaves the table
    unchanged."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return write()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == RETRY_ATTEMPTS:
                message = _conflict_message(spark, path, metadata, attempt)
                raise ConcurrentWriteError(message) from exc
            time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1) * (1 + random.random()))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _conflict_message(
    spark: SparkSession, path: str, metadata: dict[str, Any] | None, attempts: int
) -> str:
    meta = metadata or {}
    window = meta.get("window") or meta.get("replace_where") or "the whole table"
    try:
        other = commit_info(spark, path)
        who = json.loads(other.get("userMetadata") or "{}").get("job") or "another job"
        theirs = f"{other.get('operation', 'a write')} by {who} (version {other['version']})"
    except Exception:  # noqa: BLE001 - the message must not fail on a table it cannot read
        theirs = "another writer"
    return (
        f"{path}: window {window} not written: {theirs} kept changing the same part of the "
        f"table ({attempts} attempts); this run changed nothing: run it again"
    )


def _write(
    df: DataFrame,
    path: str,
    mode: str,
    metadata: dict[str, Any] | None,
    retry: bool = True,
    options: dict[str, str] | None = None,
) -> None:
    """One Delta DataFrame write (mode 'append' or 'overwrite', writer options), retried on a
    concurrent writer's conflicting commit unless retry=False (the caller retries a larger
    unit that re-reads the table)."""

    def write() -> None:
        w = df.write.format("delta").mode(mode).option("userMetadata", _meta(metadata))
        for k, v in (options or {}).items():
            w = w.option(k, v)
        w.save(path)

    if retry:
        retrying(df.sparkSession, path, write, metadata)
    else:
        write()


# Delta's optimized write: one shuffle before the write bins the rows of each partition into
# files of up to spark.databricks.delta.optimizeWrite.binSize (512 MiB), so a table written
# this way leaves upkeep (OPTIMIZE) nothing to compact. Ingest writes its tables so.
SIZED_FILES = {"optimizeWrite": "true"}


def replace_where(
    df: DataFrame,
    path: str,
    predicate: str,
    metadata: dict[str, Any] | None = None,
    sized: bool = False,
) -> None:
    """Atomically replace the rows matching `predicate` with df (whose rows must all match);
    retried on a concurrent writer's conflicting commit. sized: files sized at write time
    (SIZED_FILES)."""
    sizing = SIZED_FILES if sized else {}
    _write(df, path, "overwrite", metadata, options={"replaceWhere": predicate, **sizing})


def append(df: DataFrame, path: str, metadata: dict[str, Any] | None = None) -> None:
    _write(df, path, "append", metadata)


def overwrite(
    df: DataFrame,
    path: str,
    metadata: dict[str, Any] | None = None,
    retry: bool = True,
    sized: bool = False,
    evolve: bool = False,
) -> None:
    """Replace the whole table's content (its properties stay). retry=False for a df computed
    from a read of the table: retrying it would write a stale result. sized: as for
    replace_where. evolve: columns df has and the table lacks are added to the table (a table
    created by an older release), none removed."""
    options = {**(SIZED_FILES if sized else {}), **({"mergeSchema": "true"} if evolve else {})}
    _write(df, path, "overwrite", metadata, retry=retry, options=options)


@contextmanager
def commit_metadata(spark: SparkSession, metadata: dict[str, Any] | None) -> Iterator[None]:
    """userMetadata for SQL operations (MERGE, DELETE), which have no writer option."""
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, _meta(metadata))
    try:
        yield
    finally:
        spark.conf.unset(key)


def delete_where(
    spark: SparkSession, path: str, predicate: str, metadata: dict[str, Any] | None = None
) -> None:
    with commit_metadata(spark, metadata):
        spark.sql(f"DELETE FROM {_sql_path(path)} WHERE {predicate}")


def history(spark: SparkSession, path: str, limit: int | None = None) -> DataFrame:
    return spark.sql(
        f"DESCRIBE HISTORY {_sql_path(path)}" + (f" LIMIT {int(limit)}" if limit else "")
    )


def table_detail(spark: SparkSession, path: str) -> dict[str, Any]:
    """DESCRIBE DETAIL as a dict (partitionColumns, properties, numFiles, sizeInBytes...)."""
    row = spark.sql(f"DESCRIBE DETAIL {_sql_path(path)}").first()
    if row is None:
        raise InputError(f"no Delta table at {path}")
    return row.asDict()


# --- upkeep (`flowmosaic maintain`): OPTIMIZE, VACUUM, checkpoints and what they need ----------

VACUUM_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# Delta 4.4 ignores VACUUM's RETAIN N HOURS unless N is 0 (it takes the table's
# delta.deletedFileRetentionDuration instead) while this is on.
RETAIN_IGNORED = "spark.databricks.delta.vacuum.retentionWindowIgnore.enabled"
# Delta 4.4 refuses time travel to a version committed longer ago than the table's
# delta.deletedFileRetentionDuration (unless it is the latest), whether its files are there or not.
TIME_TRAVEL_CHECK = (
    "spark.databricks.delta.vacuum.enforceTimeTravelWithinDeletedFileRetentionDuration"
)
# VACUUM lists the table's directories in Spark jobs of this many tasks, Spark's default being
# 10,000 whatever the table: an 18-partition table took 42-62 s to vacuum in local mode and on
# S3 (1.4-2.2 s at 2 tasks). Unless the session sets it, a VACUUM runs with one task per core.
LISTING_TASKS = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def _vacuum_listing_tasks(spark: SparkSession) -> str | None:
    """The listing tasks for a VACUUM: the session's cores (at least 2); None when the
    session sets LISTING_TASKS itself."""
    if spark.conf.get(LISTING_TASKS, None) is not None:
        return None
    if is_connect(spark):  # no SparkContext here: the server's conf, else a small default
        cores = int(spark.conf.get("spark.default.parallelism", None) or 8)
    else:
        cores = spark.sparkContext.defaultParallelism
    return str(max(2, cores))


def server_now_ms(spark: SparkSession) -> int:
    """The session's clock in epoch milliseconds: the one VACUUM measures retention against
    (over Connect, the server's)."""
    row = spark.sql("SELECT unix_millis(current_timestamp()) AS t").first()
    assert row is not None  # one row, always
    return int(row["t"])


def commit_timestamps(spark: SparkSession, path: str) -> dict[int, int]:
    """{version: commit timestamp in epoch ms} of every version the log still holds."""
    rows = history(spark, path).selectExpr("version", "unix_millis(timestamp) AS ts").collect()
    return {int(r["version"]): int(r["ts"]) for r in rows}


def _uri_key(uri: str) -> str:
    # one spelling per file for comparing listings: file:/x == file:///x, %20 == ' '
    return canonical_uri(unquote(uri))


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str | None) -> Iterator[None]:
    """Set a session conf for the block (value None: leave it), then restore it."""
    before = spark.conf.get(key, None) if value is not None else None
    if value is not None:
        spark.conf.set(key, value)
    try:
        yield
    finally:
        if value is not None:
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)


def version_files(spark: SparkSession, path: str, version: int | None = None) -> set[str]:
    """The data files a version reads (canonical URIs). Also for a version older than the
    table's delta.deletedFileRetentionDuration, to which Delta 4.4 refuses time travel
    (TIME_TRAVEL_CHECK): listing its files reads only the log."""
    with _session_conf(spark, TIME_TRAVEL_CHECK, "false"):
        return {_uri_key(u) for u in read(spark, path, version).inputFiles()}


def modification_times(spark: SparkSession, uris: list[str]) -> dict[str, int]:
    """{canonical URI: the file's modification time in epoch ms} (what VACUUM compares with
    its cutoff); files that are gone are left out."""
    out: dict[str, int] = {}
    remote = []
    for uri in uris:
        local = local_path(uri)
        if local is None:
            remote.append(uri)
        elif os.path.exists(local):
            out[_uri_key(uri)] = int(os.path.getmtime(local) * 1000)
    if remote and is_connect(spark):
        rows = (
            spark.read.format("binaryFile")
            .load(remote)
            .selectExpr("path", "unix_millis(modificationTime) AS t")
            .collect()
        )
        out.update({_uri_key(r["path"]): int(r["t"]) for r in rows})
    elif remote:
        for uri in remote:
            fs, p = _hadoop(spark, uri)
            if fs.exists(p):
                out[_uri_key(uri)] = int(fs.getFileStatus(p).getModificationTime())
    return out


def files_per_partition(
    spark: SparkSession, path: str, partition_by: tuple[str, ...]
) -> list[tuple[tuple, int]]:
    """[(partition values, number of data files)] of the current version (reads only the
    files' footers: no data column is selected)."""
    df = (
        read(spark, path)
        .select(F.col("_metadata.file_path").alias("_f"), *partition_by)
        .distinct()
        .groupBy(*partition_by)
        .count()
    )
    return [(tuple(r[c] for c in partition_by), int(r["count"])) for r in df.collect()]


def optimize(
    spark: SparkSession,
    path: str,
    where: str | None = None,
    zorder_by: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """OPTIMIZE (bin-packing compaction, or ZORDER BY the given columns) of the rows matching
    `where` (a predicate on partition columns); -> its metrics as a dict."""
    sql = f"OPTIMIZE {_sql_path(path)}"
    if where:
        sql += f" WHERE {where}"
    if zorder_by:
        sql += f" ZORDER BY ({', '.join(zorder_by)})"

    def run():  # retried like every write: a concurrent window rewrite may win
        with commit_metadata(spark, metadata):
            return spark.sql(sql).first()

    row = retrying(spark, path, run, {**(metadata or {}), "window": where or "the whole table"})
    metrics = row["metrics"] if row is not None else None
    return metrics.asDict(recursive=True) if metrics is not None else {}


def vacuum(
    spark: SparkSession,
    path: str,
    retain_hours: int,
    dry_run: bool = False,
    allow_short: bool = False,
    metadata: dict[str, Any] | None = None,
) -> list[str]:
    """VACUUM ... RETAIN retain_hours HOURS [DRY RUN]; -> the files a dry run would delete
    (canonical URIs), [] for a real run. The retention is the one given (RETAIN_IGNORED is
    lifted for the call). allow_short lifts Delta's safety check against a retention under the
    table's delta.deletedFileRetentionDuration, for this call only."""
    sql = f"VACUUM {_sql_path(path)} RETAIN {int(retain_hours)} HOURS" + (
        " DRY RUN" if dry_run else ""
    )
    with (
        _session_conf(spark, RETAIN_IGNORED, "false"),
        _session_conf(spark, VACUUM_CHECK, "false" if allow_short else None),
        _session_conf(spark, LISTING_TASKS, _vacuum_listing_tasks(spark)),
        commit_metadata(spark, metadata),
    ):
        rows = spark.sql(sql).collect()
    return [_uri_key(r["path"]) for r in rows] if dry_run else []


def checkpoint(spark: SparkSession, path: str) -> int | None:
    """Write a checkpoint of the table's latest version (Delta then also cleans up log files
    older than delta.logRetentionDuration); -> that version. Delta 4.4 has no SQL command for
    it, so this is the one internal call: DeltaLog.checkpoint() through the JVM. None over
    Spark Connect (no JVM here); Delta still writes one every delta.checkpointInterval commits."""
    if is_connect(spark):
        return None
    delta_log = _jvm(spark).org.apache.spark.sql.delta.DeltaLog
    delta_log.forTable(spark._jsparkSession, path).checkpoint()
    return current_version(spark, path)
