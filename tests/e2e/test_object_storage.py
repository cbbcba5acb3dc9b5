"""Object storage, proven: a warehouse at s3a://BUCKET/PREFIX on a real S3-compatible server
(S3Proxy on 127.0.0.1, signed requests required; tests/e2e/s3.py), written and read by the CLI
the way a user runs it, every stage once on the session's small universe (tests/e2e/faults.py):
ingest, ingest-series, country-flows, mosaic-flows, export, a backtest from the table
(`--flows country_flows:U`), a mosaic page and table upkeep (compaction, vacuum, a checkpoint
in the log). Delta-rs (deltalake, no Spark, no Hadoop) reads the tables from the server and
finds the rows Spark reads from them.

Two ways of configuring the same thing are covered, each in its own process (the S3 settings
are read when a session starts): the endpoint in the settings file's `object_storage:` section
with the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the stages), and the endpoint in
AWS_ENDPOINT_URL with the keys in the section (an export and the read-back). The CLI stages run
through flowmosaic.cli.main one after the other in one process (one JVM, as a shell script of
`flowmosaic` commands would run them against a warm server); the local `spark` fixture only
prepares the raw files.

The server's keys are planted secrets drawn for the run: neither appears in any command's
output, in any object the warehouse holds on the server (data, Delta logs with their commit
metadata, checkpoints), or in any file the stages wrote locally (strategy files, reports)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable

from tests.conftest import REPO, SHORT_JVM_OPTIONS, SUBPROCESS_CONF
from tests.e2e.faults import prepared_universe
from tests.e2e.s3 import S3Server, s3_server

pytestmark = pytest.mark.slow
UNIVERSE = "FloPctCtry"
G10 = ("AU", "CA", "CH", "DE", "GB", "JP", "NO", "NZ", "SE", "US")
KEY = ["universe", "flow_date", "country"]

# flowmosaic commands one after the other in this process; each one's output after a marker
STAGES = r"""
import json, sys
from flowmosaic.cli import main
for argv in json.loads(sys.argv[1]):
    print("=== flowmosaic " + argv[0], flush=True)
    rc = main(argv)
    if rc:
        sys.exit(rc)
"""

# Spark's side of the comparison, in the second configuration: an export through the CLI,
# then the gold table as a Spark session reads it, and what storage.py says of it.
READER = r"""
import json, sys
import pyarrow.parquet as pq
from flowmosaic import storage
from flowmosaic.cli import main
from flowmosaic.config import load_settings
from flowmosaic.spark.session import get_spark

conf, warehouse, out = sys.argv[1:4]
assert main(["export", "--universe", "FloPctCtry-B", "--countries", "G10", "--out",
             f"{out}/export-b", "--warehouse", warehouse, "--conf", conf]) == 0
settings = load_settings(conf, warehouse=warehouse)
spark = get_spark(settings, app_name="flowmosaic-s3-reader")
path = settings.table_path("country_flows")
pq.write_table(storage.read(spark, path).toArrow(), f"{out}/country_flows.parquet")
base, is_dir, files = storage.list_files(spark, path)
info = {"path": path, "exists": storage.exists(spark, path),
        "absent": storage.exists(spark, settings.table_path("quarantine") + "-none"),
        "version": storage.current_version(spark, path),
        "operation": storage.commit_info(spark, path, 0).get("operation"),
        "user_metadata": storage.commit_info(spark, path, 1).get("userMetadata"),
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


def run(args: list, env: dict[str, str], timeout: float = 1200) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return done.stdout + done.stderr


def stages(commands: list[list], conf: Path, env: dict[str, str]) -> dict[str, str]:
    """Run each `flowmosaic ARGS --conf CONF` in one subprocess; each command's output."""
    argv = [[*map(str, c), "--conf", str(conf)] for c in commands]
    out = run([sys.executable, "-c", STAGES, json.dumps(argv)], env)
    parts = out.split("=== flowmosaic ")[1:]
    return {p.split("\n", 1)[0].strip(): p for p in parts}


def settings_file(path: Path, object_storage: dict) -> Path:
    conf = yaml.safe_load((REPO / "conf" / "local.yaml").read_text())
    conf["spark"]["conf"].update(
        {**SUBPROCESS_CONF, "spark.driver.extraJavaOptions": SHORT_JVM_OPTIONS}
    )
    conf["object_storage"] = object_storage
    path.write_text(yaml.safe_dump(conf))
    return path


def delta_rs(s3: S3Server, key: str) -> DeltaTable:
    return DeltaTable(f"s3://{s3.bucket}/{key}", storage_options=s3.storage_options())


def sorted_table(t: pa.Table) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in KEY])


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(
        tmp_path_factory.mktemp("s3proxy"),
        access_key=f"AKPLANTED{secrets.token_hex(6).upper()}",
        secret_key=f"planted-secret-{secrets.token_hex(16)}",
    ) as server:
        yield server


def test_every_cli_stage_on_an_s3a_warehouse(spark, s3, tmp_path, tmp_path_factory):
    raw = prepared_universe(spark, tmp_path_factory).raw
    wh = f"s3a://{s3.bucket}/wh"
    common = ["--warehouse", wh]
    conf_a = settings_file(
        tmp_path / "settings-a.yaml", {"endpoint": s3.endpoint, "region": s3.region}
    )
    env_a = clean_env(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
    out = stages(
        [
            ["ingest", "--input", raw, *common],
            ["ingest-series", raw / "market" / "external_series.csv", *common],
            ["country-flows", "--universe", f"{UNIVERSE},FloPctCtry-B,E-ALL", *common],
            ["mosaic-flows", "--universe", "E-ALL", *common],
            ["export", "--universe", UNIVERSE, "--out", tmp_path / "out", *common],
            [
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
            ],
            ["mosaic", "--country", "JP", "--universe", "E-ALL", "--out", tmp_path / "m", *common],
            ["maintain", "--tables", "country_flows", *common],
        ],
        conf_a,
        env_a,
    )
    assert list(out) == [
        "ingest",
        "ingest-series",
        "country-flows",
        "mosaic-flows",
        "export",
        "backtest",
        "mosaic",
        "maintain",
    ]
    assert "counts reconcile: yes" in out["ingest"]
    assert "counts reconcile: yes" in out["ingest-series"]
    strategy = tmp_path / "out" / "Strategies" / "daily" / f"{UNIVERSE}-daily.csv"
    assert len(strategy.read_text().splitlines()) > 1
    assert f"read {wh}/gold/country_flows:{UNIVERSE} version" in out["backtest"]
    assert "recorded run" in out["backtest"] and (tmp_path / "bt" / "report.html").exists()
    assert (tmp_path / "m" / "mosaic-JP.html").exists()

    # every table is on the server (its directory), none in a local warehouse
    keys = s3.objects("wh")
    for table in (
        "silver/share_class_flows",
        "silver/funds",
        "silver/external_series",
        "silver/quarantine",
        "gold/country_flows",
        "gold/investor_country_flows",
        "gold/backtest_runs",
    ):
        assert any(k.startswith(f"wh/{table}/_delta_log/") for k in keys), table
    assert any(k.startswith("wh/gold/country_flows/") and k.endswith(".parquet") for k in keys)
    # the upkeep stage ran on the server: a checkpoint in the gold table's log
    assert any(
        k.endswith(".checkpoint.parquet") for k in s3.objects("wh/gold/country_flows/_delta_log")
    )

    # the other configuration: endpoint in AWS_ENDPOINT_URL, keys in the settings section. An
    # export through the CLI, then Spark reads the gold table back; delta-rs reads the same
    # rows at the same version
    conf_b = settings_file(
        tmp_path / "settings-b.yaml", {"access_key": s3.access_key, "secret_key": s3.secret_key}
    )
    env_b = clean_env(AWS_ENDPOINT_URL=s3.endpoint, AWS_REGION=s3.region)
    reader_out = run([sys.executable, "-c", READER, conf_b, wh, tmp_path], env_b)
    g10 = tmp_path / "export-b" / "Strategies" / "daily" / "FloPctCtry-B-G10-daily.csv"
    assert g10.read_text().splitlines()[0].split(",")[1:] == list(G10)
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["exists"] and not info["absent"] and info["is_dir"] and info["data_files"] > 0
    assert info["operation"] == "CREATE TABLE" and info["funds"] > 0
    assert json.loads(info["user_metadata"])["job"] == "country-flows"
    assert delta_rs(s3, "wh/silver/funds").to_pyarrow_table().num_rows == info["funds"]
    spark_rows = sorted_table(pq.read_table(tmp_path / "country_flows.parquet"))
    gold = delta_rs(s3, "wh/gold/country_flows")
    assert gold.version() == info["version"]
    rs_rows = sorted_table(gold.to_pyarrow_table().select(spark_rows.column_names))
    assert spark_rows.num_rows > 0 and rs_rows.num_rows == spark_rows.num_rows
    assert rs_rows.cast(spark_rows.schema).equals(spark_rows)
    assert set(rs_rows.column("universe").to_pylist()) == {UNIVERSE, "FloPctCtry-B", "E-ALL"}
    # the backtest recorded one run (a row per horizon, statistic and column) of that version
    runs = delta_rs(s3, "wh/gold/backtest_runs").to_pyarrow_table()
    assert runs.num_rows > 0 and len(set(runs.column("run_id").to_pylist())) == 1
    # version 1: the country-flows commit (0 created the table; upkeep came after)
    assert set(runs.column("source_version").to_pylist()) == {1}
    investor = delta_rs(s3, "wh/gold/investor_country_flows").to_pyarrow_table()
    assert investor.num_rows > 0 and set(investor.column("universe").to_pylist()) == {"E-ALL"}

    # the planted keys: in no output, no object on the server, no file written locally
    planted = [s3.access_key, s3.secret_key]
    printed = "".join(out.values()) + reader_out
    assert not [k for k in planted if k in printed]
    written = [p for p in (s3.basedir / s3.bucket).rglob("*") if p.is_file()]
    written += [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert any("_delta_log" in p.parts for p in written) and len(written) > 50
    leaked = [str(p) for p in written for k in planted if k.encode() in p.read_bytes()]
    assert not leaked, leaked
