"""Shared fixtures. Tests by kind: tests/unit (no Spark: `pytest -m "not spark"` runs them in
seconds), tests/spark (transforms and Delta on one local session), tests/e2e (CLI, cluster,
Connect, object storage; marked slow too). Every test that uses the `spark` fixture, and every
test under tests/spark or tests/e2e, is marked `spark`; the transform tests of TRANSFORM_MODULES
are marked `transform` too (the fast lane: `-m "not spark or transform"`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Every JVM a test starts (this session's driver, the CLI subprocesses, the Connect server, the
# standalone cluster's daemons and executors) uses the serial collector: heaps of 1-2 GB on 2
# cores, where G1's concurrent threads compete with the work (measured on
# tests/spark/ingest/test_ingest.py + tests/e2e/test_crash_safety.py: 273 s vs 291-322 s).
TEST_JVM_OPTIONS = "-XX:+UseSerialGC"
# The short-lived JVMs (one CLI command on small data, the standalone cluster's daemons, drivers
# and executors) compile with C1 only: C2's compilations cost more than they win in a minute
# (test_concurrency.py + test_crash_safety.py 322 -> 284 s, test_cluster.py 208 -> 175 s). The
# Connect server and the S3 test's eight stages in one process compile with C1 only too: since
# `make test` runs two worker processes the machine's CPU time is what limits, and C1 spends
# less of it (CPU seconds of the whole machine: test_object_storage.py 239 -> 192, same wall
# time; test_connect.py 227 -> 209, wall 132 -> 143 s alone). This session's JVM runs for
# the whole suite and keeps the full JIT (with C1 only, test_deliveries.py + test_job.py took
# 375 s instead of 230 and 491 CPU seconds instead of 329).
SHORT_JVM_OPTIONS = f"{TEST_JVM_OPTIONS} -XX:TieredStopAtLevel=1"
# The Spark conf of a test's CLI subprocess (settings files of tests/e2e): small driver, 2
# shuffle partitions, no UI (several run at once on 2 cores), queries run interpreted (no
# generated Java code): on the tests' tiny frames compiling each new plan's code costs more
# than running it interpreted (a warm ingest of the small raw universe + its country flows:
# 13.7 + 4.5 s wall, 22.7 + 7.0 CPU s with code generation; 9.9 + 4.1 s, 15.2 + 6.4 CPU s
# without). The results are the same either way (Spark tests its generated code against the
# interpreted evaluation). The standalone-cluster test keeps Spark's default, the one users run:
# its ingest and country flows, with generated code, must equal the local run's.
SUBPROCESS_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.driver.extraJavaOptions": TEST_JVM_OPTIONS,
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}
# The session of the `spark` fixture.
SESSION_CONF = {
    **SUBPROCESS_CONF,
    "spark.driver.memory": "2g",
}


# The Spark tests of the fast lane (`make test-fast`): pure DataFrame -> DataFrame transforms on
# tiny frames, no Delta table, no ingest; with tests/unit they run on the one session in minutes.
TRANSFORM_MODULES = {
    ("spark", "test_calendar_columns.py"),
    ("spark", "country_flows", "test_transforms.py"),
    ("spark", "signals", "test_transforms.py"),
}


# `make test` splits the run over two worker processes (pytest-xdist, --dist loadscope: a
# module's tests stay in one process, so its module fixtures are built once). The modules that
# take longest go first, longest first, so that no worker is left with a long one at the end;
# the second is a module that does not need the fault universe (tests/e2e/faults.py), so the
# other worker does not wait while the first builds it. Measured in a serial run (seconds):
# cluster 148, concurrency 138, object storage 113, Connect 107, deliveries 107, crash 92,
# country-flows job 82, demo 78; the rest take 45 s or less each. The demo, one test, now runs
# 150-160 s with two workers (signals and their comparisons): third, so that it never starts
# last and leaves the other worker idle.
LONGEST_FIRST = (
    ("e2e", "test_cluster.py"),
    ("e2e", "test_connect.py"),
    ("e2e", "test_demo.py"),
    ("e2e", "test_concurrency.py"),
    ("e2e", "test_object_storage.py"),
    ("spark", "ingest", "test_deliveries.py"),
    ("e2e", "test_crash_safety.py"),
    ("spark", "country_flows", "test_job.py"),
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        return LONGEST_FIRST.index(parts) if parts in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order, a module's tests too
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts in TRANSFORM_MODULES:
            item.add_marker(pytest.mark.transform)
        if parts[0] in ("spark", "e2e") or "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
        if parts[0] == "e2e":
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository's root (conf/, tests/data/ ...)."""
    return REPO


@pytest.fixture(scope="session")
def golden(repo) -> Path:
    return repo / "tests" / "data" / "golden"


@pytest.fixture(scope="session")
def make_settings(repo):
    """settings(warehouse) -> Settings of conf/local.yaml with that warehouse."""
    from flowmosaic.config import load_settings

    def make(warehouse, **kw):
        return load_settings(repo / "conf" / "local.yaml", warehouse=str(warehouse), **kw)

    return make


@pytest.fixture(scope="session")
def session_warehouse():
    d = tempfile.mkdtemp(prefix="flowmosaic-test-wh-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(make_settings, session_warehouse):
    return make_settings(session_warehouse)


@pytest.fixture
def warehouse(make_settings, tmp_path):
    """Settings of a fresh, empty warehouse for one test."""
    return make_settings(tmp_path / "wh")


@pytest.fixture(scope="session")
def spark(settings):
    from flowmosaic.spark.session import get_spark

    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    session = get_spark(settings, app_name="flowmosaic-tests", extra_conf=SESSION_CONF)
    yield session
    session.stop()
