"""Object storage, proven: a warehouse at s3a://BUCKET/PREFIX on a real S3-compatible server
(S3Proxy on 127.0.0.1, signed requests required; tests/e2e/s3.py), written and read by the CLI
in subprocesses the way a user runs it: ingest, country-flows, export and a backtest from the
table (`--flows country_flows:U`), then the demo. Delta-rs (deltalake, no Spark, no Hadoop)
reads the gold table from the server and finds the rows Spark reads from it.

Two ways of configuring the same thing are covered: the endpoint in the settings file's
`object_storage:` section with the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the CLI
run), and the endpoint in AWS_ENDPOINT_URL with the keys in the section (the demo).
The local `spark` fixture only generates the raw files: the CLI runs in subprocesses, whose
sessions get Hadoop's S3 connector because their warehouse is s3a://."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable

from flowmosaic import synth
from tests.conftest import REPO
from tests.e2e.s3 import S3Server, s3_server

pytestmark = pytest.mark.slow
UNIVERSE = "FloPctCtry"
KEY = ["universe", "flow_date", "country"]
TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.databricks.delta.snapshotPartitions": "1",
}

# Spark's side of the comparison, in its own process (one JVM: this one has no S3 connector):
# the table as a Spark session with the s3a:// warehouse reads it, and what storage.py says.
READER = r"""
import json, sys
import pyarrow.parquet as pq
from flowmosaic import storage
from flowmosaic.config import load_settings
from flowmosaic.spark.session import get_spark

conf, warehouse, out = sys.argv[1:4]
settings = load_settings(conf, warehouse=warehouse)
spark = get_spark(settings, app_name="flowmosaic-s3-reader")
path = settings.table_path("country_flows")
pq.write_table(storage.read(spark, path).toArrow(), f"{out}/country_flows.parquet")
base, is_dir, files = storage.list_files(spark, path)
info = {"path": path, "exists": storage.exists(spark, path),
        "absent": storage.exists(spark, settings.table_path("quarantine") + "-none"),
        "version": storage.current_version(spark, path),
        "operation": storage.commit_info(spark, path)["operation"],
        "user_metadata": storage.commit_info(spark, path, 0).get("userMetadata"),
        "data_files": len(files), "is_dir": is_dir,
        "funds": storage.read_table(spark, settings, "funds").count()}
json.dump(info, open(f"{out}/info.json", "w"), default=str)
spark.stop()
"""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any AWS_ variable (the developer's own), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PYARROW_IGNORE_TIMEZONE="1", **extra)
    return env


def run(args: list, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return done.stdout + done.stderr


def cli(*args, conf: Path, env: dict[str, str], timeout: float = 900) -> str:
    """`flowmosaic ARGS --conf CONF` in a subprocess; its output."""
    code = "import sys; from flowmosaic.cli import main; sys.exit(main())"
    return run([sys.executable, "-c", code, *args, "--conf", conf], env, timeout)


def settings_file(path: Path, object_storage: dict) -> Path:
    conf = yaml.safe_load((REPO / "conf" / "local.yaml").read_text())
    conf["spark"]["conf"].update(TEST_CONF)
    conf["object_storage"] = object_storage
    path.write_text(yaml.safe_dump(conf))
    return path


def delta_rs(s3: S3Server, key: str) -> DeltaTable:
    return DeltaTable(f"s3://{s3.bucket}/{key}", storage_options=s3.storage_options())


def sorted_table(t: pa.Table) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in KEY])


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3proxy")) as server:
        yield server


def test_cli_on_an_s3a_warehouse(spark, s3, tmp_path):
    raw = tmp_path / "raw"
    synth.generate(
        spark,
        raw,
        scale="tiny",
        seed=5,
        n_funds=40,
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 9, 30),
    )
    conf = settings_file(tmp_path / "settings.yaml", {"endpoint": s3.endpoint, "region": s3.region})
    env = clean_env(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
    wh = f"s3a://{s3.bucket}/wh"
    common = ["--warehouse", wh]

    out = cli("ingest", "--input", raw, *common, conf=conf, env=env)
    assert "counts reconcile: yes" in out
    cli("country-flows", "--universe", UNIVERSE, *common, conf=conf, env=env)
    out = cli(
        "export", "--universe", UNIVERSE, "--out", tmp_path / "out", *common, conf=conf, env=env
    )
    strategy = tmp_path / "out" / "Strategies" / "daily" / f"{UNIVERSE}-daily.csv"
    assert len(strategy.read_text().splitlines()) > 1
    out = cli(
        "backtest",
        "--flows",
        f"country_flows:{UNIVERSE}",
        "--returns",
        raw / "market" / "returns_daily.csv",
        "--pct-returns",
        "--horizons",
        "5,10",
        "--out",
        tmp_path / "bt",
        *common,
        conf=conf,
        env=env,
    )
    assert f"read {wh}/gold/country_flows:{UNIVERSE} version" in out
    assert "recorded run" in out and (tmp_path / "bt" / "report.html").exists()

    # every table is on the server (its directory), none in a local warehouse
    keys = s3.objects("wh")
    for table in (
        "silver/share_class_flows",
        "silver/funds",
        "gold/country_flows",
        "gold/backtest_runs",
    ):
        assert any(k.startswith(f"wh/{table}/_delta_log/") for k in keys), table
    assert any(k.startswith("wh/gold/country_flows/") and k.endswith(".parquet") for k in keys)

    # Spark reads the gold table back; delta-rs reads the same rows at the same version
    run([sys.executable, "-c", READER, conf, wh, tmp_path], env)
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["exists"] and not info["absent"] and info["is_dir"] and info["data_files"] > 0
    assert info["operation"] == "WRITE" and info["funds"] > 0
    assert delta_rs(s3, "wh/silver/funds").to_pyarrow_table().num_rows == info["funds"]
    spark_rows = sorted_table(pq.read_table(tmp_path / "country_flows.parquet"))
    gold = delta_rs(s3, "wh/gold/country_flows")
    assert gold.version() == info["version"]
    rs_rows = sorted_table(gold.to_pyarrow_table().select(spark_rows.column_names))
    assert spark_rows.num_rows > 0 and rs_rows.num_rows == spark_rows.num_rows
    assert rs_rows.cast(spark_rows.schema).equals(spark_rows)
    assert set(rs_rows.column("universe").to_pylist()) == {UNIVERSE}
    # the backtest recorded one run (a row per horizon, statistic and column) of that version
    runs = delta_rs(s3, "wh/gold/backtest_runs").to_pyarrow_table()
    assert runs.num_rows > 0 and len(set(runs.column("run_id").to_pylist())) == 1
    assert set(runs.column("source_version").to_pylist()) == {info["version"]}


def test_demo_on_an_s3a_warehouse(s3, tmp_path):
    conf = settings_file(
        tmp_path / "settings.yaml", {"access_key": s3.access_key, "secret_key": s3.secret_key}
    )
    env = clean_env(AWS_ENDPOINT_URL=s3.endpoint, AWS_REGION=s3.region)
    out = cli(
        "demo",
        "--scale",
        "tiny",
        "--data",
        tmp_path / "data",
        "--out",
        tmp_path / "out",
        "--warehouse",
        f"s3a://{s3.bucket}/demo",
        conf=conf,
        env=env,
        timeout=1800,
    )
    assert "demo finished" in out
    assert (tmp_path / "out" / "backtests" / "g10-rates" / "report.html").exists()
    gold = delta_rs(s3, "demo/gold/country_flows").to_pyarrow_table()
    assert gold.num_rows > 0
    assert {"FloPctCtry", "FloPctCtry-B"} <= set(gold.column("universe").to_pylist())
    runs = delta_rs(s3, "demo/gold/backtest_runs").to_pyarrow_table()
    assert len(set(runs.column("run_id").to_pylist())) == 2
    # the upkeep stage ran on the server: a checkpoint in the gold table's log
    assert any(
        k.endswith(".checkpoint.parquet") for k in s3.objects("demo/gold/country_flows/_delta_log")
    )
