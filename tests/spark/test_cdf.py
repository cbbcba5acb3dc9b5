"""The change feed of a gold table, read with deltalake: a window rewrite (storage.replace_where,
i.e. Delta's replaceWhere overwrite) shows exactly the replaced rows and the new ones.

Delta writes a replaceWhere's changes as `delete` (every row the predicate matched before the
commit) and `insert` (every row written), never update_preimage/update_postimage (those come
from UPDATE and MERGE). Rows outside the predicate that Delta copied while rewriting a file do
not appear."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flowmosaic import storage
from flowmosaic.tables import table
from tests.spark.sample_warehouse import flow_days

CF = table("country_flows")
DAYS = flow_days(dt.date(2024, 3, 1), 10)
WINDOW = DAYS[3:7]
PREDICATE = f"universe = 'U1' AND flow_date BETWEEN '{WINDOW[0]}' AND '{WINDOW[-1]}'"


def _row(universe, day, country, flow):
    return (universe, day, country, flow, 1e6, flow / 1e4, 0.0, 0.0, 2)


def _key(r) -> tuple:
    return tuple(r[c] for c in CF.columns)


@pytest.fixture(scope="module")
def rewrite(spark, make_settings, tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("cdf") / "wh")
    path = storage.ensure(spark, s, "country_flows")
    old = [
        _row(u, d, c, float(i))
        for u in ("U1", "U2")
        for i, d in enumerate(DAYS)
        for c in ("US", "JP", "DE")
    ]
    storage.append(spark.createDataFrame(old, CF.schema).coalesce(1), path)  # one file: the
    # rewrite must copy the rows outside the window, which the feed must not show
    # the window again: new values for US and JP, DE gone, GB new
    new = [_row("U1", d, c, 100.0 + i) for i, d in enumerate(WINDOW) for c in ("US", "JP", "GB")]
    storage.replace_where(spark.createDataFrame(new, CF.schema), path, PREDICATE)
    v = storage.current_version(spark, path)
    replaced = [r for r in old if r[0] == "U1" and WINDOW[0] <= r[1] <= WINDOW[-1]]
    return path, v, replaced, new


def test_deltalake_change_feed_of_a_window_rewrite(rewrite):
    path, v, replaced, new = rewrite
    reader = DeltaTable(path).load_cdf(starting_version=v, ending_version=v)
    changes = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    assert {c["_commit_version"] for c in changes} == {v}
    assert {c["_change_type"] for c in changes} == {"delete", "insert"}
    deleted = sorted(_key(c) for c in changes if c["_change_type"] == "delete")
    inserted = sorted(_key(c) for c in changes if c["_change_type"] == "insert")
    assert deleted == sorted(replaced) and len(deleted) == len(WINDOW) * 3
    assert inserted == sorted(new)


def test_spark_reads_the_same_change_feed(spark, rewrite):
    path, v, replaced, new = rewrite
    feed = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", v)
        .option("endingVersion", v)
        .load(path)
        .collect()
    )
    got = sorted((r["_change_type"], _key(r)) for r in feed)
    assert got == sorted([("delete", r) for r in replaced] + [("insert", r) for r in new])
