"""One SparkSession for the whole test session: local[2], few shuffle partitions, UI off."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def warehouse_root():
    d = tempfile.mkdtemp(prefix="flowmosaic-test-wh-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(warehouse_root):
    from flowmosaic.config import load_settings
    return load_settings(ROOT / "conf" / "local.yaml", warehouse=warehouse_root)


@pytest.fixture(scope="session")
def spark(settings):
    from flowmosaic.session import get_spark
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    session = get_spark(settings, app_name="flowmosaic-tests", extra_conf={
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.driver.memory": "2g",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    })
    yield session
    session.stop()
