"""Downstream readers: every table of tables.py, created by storage.ensure and written once,
reads the same rows with Spark, deltalake (delta-rs, to_pandas) and polars (pl.read_delta);
and a guard on what the tables ask of a reader: their protocol stays within what delta-rs
reads, without deletion vectors, and the gold tables keep a change feed."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from deltalake import DeltaTable, TableFeatures
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from flowmosaic import storage
from flowmosaic.tables import TABLES
from tests.spark.sample_warehouse import write_every_table

ROWS = 8
# What the tables may ask of a reader. Reader version 1 needs no reader feature; the writer
# features are the ones Delta 4.4 lists for tables.py's CHECK constraints, change feed and the
# gold tables' generated flow_month (appendOnly and invariants come with any writer-version-7
# table). A Delta upgrade or a new
# table property that adds a feature fails here: check that delta-rs (and so polars) reads it
# before adding it. Deletion vectors stay off (tables.COMMON_PROPERTIES): not every reader the
# tests use reads them.
READER_VERSION = 1
WRITER_FEATURES = {
    "appendOnly",
    "invariants",
    "checkConstraints",
    "changeDataFeed",
    "generatedColumns",
}


def _protocol_name(member: str) -> str:
    """deltalake.TableFeatures member -> the protocol's feature name (CheckConstraints ->
    checkConstraints)."""
    return {"TimestampWithoutTimezone": "timestampNtz"}.get(member, member[0].lower() + member[1:])


DELTA_RS_FEATURES = {_protocol_name(m) for m in dir(TableFeatures) if m[:1].isupper()}


@pytest.fixture(scope="module")
def sample(spark, make_settings, tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("readers") / "wh")
    return s, write_every_table(spark, s, ROWS)


def _value(v):
    """One spelling per value across readers: timestamps as UTC epoch microseconds, numpy
    scalars as Python ones, NaN/NaT as None, floats rounded."""
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            raise AssertionError(f"naive timestamp {v!r}: compare in UTC")
        return round(v.timestamp() * 1_000_000)
    if isinstance(v, float):
        return round(v, 9)
    return v


def _rows(records, columns) -> list[tuple]:
    return sorted((tuple(_value(r[c]) for c in columns) for r in records), key=repr)


def spark_rows(spark, path, t) -> list[tuple]:
    df = storage.read(spark, path)
    ts = {f.name for f in t.schema.fields if isinstance(f.dataType, TimestampType)}
    cols = t.stored_schema.names  # generated columns (flow_month) included
    df = df.select(*[F.unix_micros(c).alias(c) if c in ts else F.col(c) for c in cols])
    return sorted((tuple(_value(x) for x in r) for r in df.collect()), key=repr)


@pytest.mark.parametrize("name", list(TABLES))
def test_spark_deltalake_and_polars_read_the_same_rows(spark, sample, name):
    s, paths = sample
    t = TABLES[name]
    want = spark_rows(spark, paths[name], t)
    assert len(want) == ROWS
    cols = t.stored_schema.names
    pdf = DeltaTable(paths[name]).to_pandas()
    assert sorted(pdf.columns) == sorted(cols)
    assert _rows(pdf.to_dict("records"), cols) == want
    pldf = pl.read_delta(paths[name])
    assert sorted(pldf.columns) == sorted(cols)
    assert _rows(pldf.to_dicts(), cols) == want


@pytest.mark.parametrize("name", list(TABLES))
def test_protocol_stays_readable_by_delta_rs(sample, name):
    _, paths = sample
    table = DeltaTable(paths[name])
    p = table.protocol()
    features = set(p.reader_features or ()) | set(p.writer_features or ())
    assert "deletionVectors" not in features
    assert table.metadata().configuration.get("delta.enableDeletionVectors") == "false"
    assert p.min_reader_version == READER_VERSION and not p.reader_features, p
    assert p.min_writer_version <= 7, p
    assert set(p.writer_features or ()) <= WRITER_FEATURES, (
        f"{name}: writer features {sorted(set(p.writer_features) - WRITER_FEATURES)} are new: "
        "check that delta-rs reads such a table, then add them to WRITER_FEATURES"
    )
    assert WRITER_FEATURES <= DELTA_RS_FEATURES  # delta-rs knows every feature allowed here
    assert table.to_pyarrow_table().num_rows == ROWS


def test_gold_tables_keep_a_change_feed(sample):
    _, paths = sample
    for name in ("country_flows", "investor_country_flows"):
        conf = DeltaTable(paths[name]).metadata().configuration
        assert conf.get("delta.enableChangeDataFeed") == "true", name
    # the retentions and the checkpoint interval come from tables.py, as set at creation
    for name, path in paths.items():
        conf = DeltaTable(path).metadata().configuration
        for key in (
            "delta.checkpointInterval",
            "delta.logRetentionDuration",
            "delta.deletedFileRetentionDuration",
        ):
            assert conf.get(key) == TABLES[name].properties[key], (name, key)
