"""`flowmosaic maintain` on a small country_flows history (one write, three window rewrites) whose
second version a backtest_runs row records: the requested retention is raised so that the
pinned version still time-travels (also when its tombstones have expired and VACUUM judges
files by modification time), files are compacted, a checkpoint is written; with force the
pinned version's files go and the report says so. The tests run in file order on one table."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from deltalake import DeltaTable

from flowmosaic import storage
from flowmosaic.cli import build_parser
from flowmosaic.cli import maintain as maintain_cmd
from flowmosaic.cli.context import Context
from flowmosaic.maintain import maintain, pinned_versions
from flowmosaic.tables import table
from tests.spark.sample_warehouse import flow_days

CF = table("country_flows")
BT = table("backtest_runs")
DAYS = flow_days(dt.date(2024, 1, 2), 24)
COUNTRIES = ("US", "JP", "DE")


def _rows(universe: str, days, scale: float) -> list[tuple]:
    return [
        (universe, d, c, scale * (i + 1), 1e6, scale * (i + 1) / 1e4, 0.5, 0.1, 3)
        for i, d in enumerate(days)
        for c in COUNTRIES
    ]


def _window(days) -> str:
    return f"flow_date BETWEEN '{days[0]}' AND '{days[-1]}'"


def _sorted(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


@pytest.fixture(scope="module")
def history(spark, make_settings, tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("maintain") / "wh")
    path = storage.ensure(spark, s, "country_flows")
    first = spark.createDataFrame(_rows("U1", DAYS, 1.0) + _rows("U2", DAYS, 2.0), CF.schema)
    storage.append(first.repartition(3), path)  # several files per universe
    for k, (lo, hi) in enumerate(((0, 8), (8, 16), (4, 12)), start=2):
        days = DAYS[lo:hi]
        new = spark.createDataFrame(
            _rows("U1", days, 10.0 * k) + _rows("U2", days, 5.0 * k), CF.schema
        )
        storage.replace_where(new.repartition(2), path, _window(days))
    v_pinned = storage.current_version(spark, path) - 2  # the first window rewrite
    bt = storage.ensure(spark, s, "backtest_runs")
    at = dt.datetime(2026, 1, 5, 9, 30)
    runs = [
        ("pinned-run", f"{path}:U1", v_pinned),
        ("csv-run", "/data/flows.csv", None),  # no table: no pin
        ("elsewhere-run", "/elsewhere/gold/country_flows:U1", 1),
    ]  # another table
    storage.append(
        spark.createDataFrame(
            [(r, at, src, v, "{}", 5, "AnnMn", "TxB", 0.1) for r, src, v in runs], BT.schema
        ),
        bt,
    )
    return s, path, v_pinned, _sorted(storage.read(spark, path, v_pinned))


def test_pins_come_from_backtest_runs_rows_that_point_at_the_table(spark, history):
    s, _, v_pinned, _ = history
    assert pinned_versions(spark, s) == {v_pinned: {"pinned-run"}}


def test_maintain_raises_the_retention_to_keep_the_pinned_version(spark, history, capsys):
    s, path, v_pinned, want = history
    assert storage.table_detail(spark, path)["numFiles"] > 2
    # partitions of (universe, month) holding several files: the ones OPTIMIZE must rewrite
    several = sum(n > 1 for _, n in storage.files_per_partition(spark, path, CF.partition_by))
    assert several >= 2
    args = build_parser().parse_args(
        [
            "maintain",
            "--warehouse",
            s.warehouse,
            "--tables",
            "country_flows,backtest_runs",
            "--retain-hours",
            "0",
        ]
    )
    ctx = Context(args)
    ctx.__dict__.update(settings=s, spark=spark)  # the test's session, as it is
    assert args.run is maintain_cmd.run and maintain_cmd.run(ctx) == 0
    out = capsys.readouterr().out
    assert "raised from 0 h (requested)" in out and f"to keep version {v_pinned}" in out
    assert f"versions recorded by backtest runs, kept: {v_pinned} (runs pinned-run)" in out
    assert f"ZORDER BY (flow_date) on {several} partition(s)" in out  # country_flows
    assert "(compaction)" in out  # backtest_runs
    assert "checkpoint at version" in out and "oldest version kept:" in out
    # compacted and z-ordered: one file per (universe, month) partition
    files = storage.files_per_partition(spark, path, CF.partition_by)
    assert len(files) >= 4 and all(n == 1 for _, n in files), files
    # the pinned version time-travels, in Spark and in delta-rs (which reads the checkpoint)
    assert _sorted(storage.read(spark, path, v_pinned)) == want
    assert DeltaTable(path, version=v_pinned).to_pyarrow_table().num_rows == len(want)
    assert DeltaTable(path).to_pyarrow_table().num_rows == 2 * len(DAYS) * len(COUNTRIES)
    assert any(n.endswith(".checkpoint.parquet") for n in os.listdir(f"{path}/_delta_log"))


def test_a_pin_beyond_the_tombstones_is_kept_by_modification_time(spark, history):
    s, path, v_pinned, want = history
    # Tombstones that expire at once, and data files written "three days ago": VACUUM now
    # judges removed files by modification time, so the pinned version's age is not enough.
    spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
        "('delta.deletedFileRetentionDuration' = 'interval 1 seconds')"
    )
    time.sleep(2)
    past = time.time() - 3 * 24 * 3600
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for f in files:
            os.utime(os.path.join(root, f), (past, past))
    rep = maintain(spark, s, ["country_flows"], retain_hours=0, progress=None).table(
        "country_flows"
    )
    assert rep.retention_hours >= 72 and "modification time" in rep.retention_reason
    assert rep.pinned_kept == [v_pinned] and not rep.lost
    assert any("property delta.deletedFileRetentionDuration" in n for n in rep.notes)
    # Delta 4.4 refuses time travel beyond deletedFileRetentionDuration: the report says so,
    # delta-rs reads the version, and Spark does with the check off
    assert any("Spark refuses the time travel" in n for n in rep.notes)
    assert DeltaTable(path, version=v_pinned).to_pyarrow_table().num_rows == len(want)
    spark.conf.set(storage.TIME_TRAVEL_CHECK, "false")
    try:
        assert _sorted(storage.read(spark, path, v_pinned)) == want
    finally:
        spark.conf.unset(storage.TIME_TRAVEL_CHECK)


def test_force_keeps_the_short_retention_and_says_what_no_longer_time_travels(spark, history):
    s, path, v_pinned, _ = history
    current = _sorted(storage.read(spark, path))
    said: list[str] = []
    rep = maintain(
        spark, s, ["country_flows"], retain_hours=0, force=True, progress=said.append
    ).table("country_flows")
    assert rep.retention_hours == 0 and v_pinned in rep.lost and rep.vacuum_deleted > 0
    assert rep.storage_files_after < rep.storage_files_before
    assert f"NO LONGER TIME-TRAVELS: version {v_pinned}" in rep.describe()
    assert any(f"version {v_pinned} will no longer time-travel" in m for m in said)
    with pytest.raises(Exception, match="(?i)not found|no such file"):  # its files are gone
        DeltaTable(path, version=v_pinned).to_pyarrow_table()
    assert _sorted(storage.read(spark, path)) == current


def test_vacuum_lists_the_table_with_one_task_per_core(spark, tmp_path):
    """Spark's default listing parallelism (10,000 tasks a job, whatever the table) made one
    VACUUM of an 18-partition table take 42-62 s, locally and on S3; storage.vacuum lists with
    the session's cores when the session does not set storage.LISTING_TASKS, and leaves the
    session as it was."""
    path = str(tmp_path / "partitioned")
    parts = spark.range(36).selectExpr("id", "id % 3 AS a", "id % 6 AS b")
    parts.write.format("delta").partitionBy("a", "b").save(path)
    assert spark.conf.get(storage.LISTING_TASKS, None) is None
    sc, group = spark.sparkContext, f"vacuum-listing-{time.time_ns()}"
    sc.setJobGroup(group, "the VACUUM of test_maintain")
    try:
        storage.vacuum(spark, path, 168, dry_run=True)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    tracker = sc.statusTracker()
    stages = [s for j in tracker.getJobIdsForGroup(group) for s in tracker.getJobInfo(j).stageIds]
    # a stage the tracker no longer (or never: skipped) holds has no info
    infos = [tracker.getStageInfo(s) for s in stages]
    tasks = [i.numTasks for i in infos if i is not None]
    assert tasks and max(tasks) <= max(2, sc.defaultParallelism), tasks
    assert spark.conf.get(storage.LISTING_TASKS, None) is None
