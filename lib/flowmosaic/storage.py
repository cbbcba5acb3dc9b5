"""Delta I/O at the edge: create tables with constraints, overwrite a window, upsert, read a version.

Every write records what produced it in the commit's userMetadata (JSON).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType


def _meta(metadata: dict[str, Any] | None) -> str:
    return json.dumps(metadata or {}, sort_keys=True, default=str)


def _delta_log(spark: SparkSession, path: str):
    """(Hadoop FileSystem, Path) of the table's _delta_log directory."""
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.hadoop.fs.Path(path.rstrip("/") + "/_delta_log")
    return log.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), log


def table_exists(spark: SparkSession, path: str) -> bool:
    """A Delta table is there when its _delta_log holds a commit (a cheap listing)."""
    fs, log = _delta_log(spark, path)
    return bool(fs.exists(log)) and any(
        st.getPath().getName().endswith(".json") for st in fs.listStatus(log))


def ensure_table(spark: SparkSession, path: str, schema: StructType,
                 partition_by: tuple[str, ...] = (),
                 constraints: dict[str, str] | None = None) -> None:
    """Create the Delta table at `path` with this schema, partitioning and CHECK constraints."""
    from delta.tables import DeltaTable
    if table_exists(spark, path):
        return
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    builder.execute()
    for name, expr in (constraints or {}).items():
        spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {name} CHECK ({expr})")


def overwrite_window(df: DataFrame, path: str, predicate: str,
                     metadata: dict[str, Any] | None = None) -> None:
    """Atomically replace the rows matching `predicate` with df (whose rows must all match it)."""
    (df.write.format("delta").mode("overwrite")
       .option("replaceWhere", predicate)
       .option("userMetadata", _meta(metadata))
       .save(path))


def append(df: DataFrame, path: str, metadata: dict[str, Any] | None = None) -> None:
    df.write.format("delta").mode("append").option("userMetadata", _meta(metadata)).save(path)


@contextmanager
def commit_metadata(spark: SparkSession, metadata: dict[str, Any] | None) -> Iterator[None]:
    """userMetadata for operations without a writer option (MERGE, DELETE)."""
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, _meta(metadata))
    try:
        yield
    finally:
        spark.conf.unset(key)


def upsert(spark: SparkSession, df: DataFrame, path: str, keys: tuple[str, ...],
           metadata: dict[str, Any] | None = None) -> None:
    """MERGE df into the table on keys: matched rows updated when changed, new rows inserted."""
    from delta.tables import DeltaTable
    target = DeltaTable.forPath(spark, path)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    others = [c for c in df.columns if c not in keys]
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in others) or "false"
    with commit_metadata(spark, metadata):
        (target.alias("t").merge(df.alias("s"), on)
               .whenMatchedUpdateAll(condition=changed)
               .whenNotMatchedInsertAll()
               .execute())


def read_table(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def current_version(spark: SparkSession, path: str) -> int:
    """The table's latest version: the highest commit file NNN.json in _delta_log (the Delta
    protocol keeps the newest commit file even after checkpoints and log clean-up). Listing one
    directory through Hadoop's FileSystem is far cheaper than a history() job and works on
    object stores too."""
    fs, log = _delta_log(spark, path)
    versions = [int(name[:-5]) for name in (st.getPath().getName() for st in fs.listStatus(log))
                if name.endswith(".json") and name[:-5].isdigit()]
    if not versions:
        raise ValueError(f"{path}: no commits in _delta_log")
    return max(versions)


def last_commit(spark: SparkSession, path: str) -> tuple[int, dict[str, str]]:
    """(version, operationMetrics) of the table's newest commit."""
    from delta.tables import DeltaTable
    row = DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()
    return int(row[0]), dict(row[1] or {})
