"""Spark Connect, proven: a server started with `flowmosaic serve --background` on a free port,
the CLI run against it with --remote (ingest, country-flows, nightly) into a temp warehouse,
the tables equal to a local-mode run of the same inputs; `nightly` changes only its date.

The CLI runs in subprocesses: a Connect session in this process would switch pyspark into
Connect mode for the local `spark` fixture as well."""

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flowmosaic import country_flows, ingest, storage, synth
from flowmosaic.config import load_settings
from flowmosaic.spark import connect_server, connect_token
from tests.conftest import REPO, SHORT_JVM_OPTIONS, SUBPROCESS_CONF
from tests.e2e.faults import assert_same

UNIVERSES = "FloPctCtry,FloPctCtry-B"
DAY = dt.date(2020, 3, 31)  # the last flow date of the generated range: the nightly's day
KEY = ["universe", "flow_date", "country"]


def cli(*args, conf: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`flowmosaic ARGS --conf CONF` in a subprocess (its output captured)."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from flowmosaic.cli import main; sys.exit(main())",
        *map(str, args),
        "--conf",
        str(conf),
    ]
    env = {**os.environ, "PYARROW_IGNORE_TIMEZONE": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def split_day(raw: Path, base: Path, day_dir: Path, day: dt.date) -> None:
    """base: the raw files with every flow row but the day's; day_dir: the day's flow rows
    (lines copied as they are)."""
    base.mkdir()
    day_dir.mkdir()
    for name in ("funds.csv", "share_classes.csv", "allocations.csv"):
        (base / name).write_bytes((raw / name).read_bytes())
    header, before, on_day = None, [], []
    for part in sorted((raw / "flows").glob("*.csv")):
        lines = part.read_text().splitlines(keepends=True)
        header = header or lines[0]
        for line in lines[1:]:
            (on_day if line.startswith(f"{day},") else before).append(line)
    assert on_day and before
    (base / "flows.csv").write_text(header + "".join(before))
    (day_dir / "flows.csv").write_text(header + "".join(on_day))


@pytest.fixture(scope="module")
def case(spark, tmp_path_factory):
    """Inputs, a settings file, and the local-mode reference warehouse after the base load."""
    d = tmp_path_factory.mktemp("connect")
    synth.generate(
        spark, d / "raw", scale="tiny", seed=3, n_funds=40, start=dt.date(2020, 1, 1), end=DAY
    )
    split_day(d / "raw", d / "base", d / "day", DAY)
    conf = yaml.safe_load((REPO / "conf" / "local.yaml").read_text())
    conf["spark"]["conf"].update(
        {
            **SUBPROCESS_CONF,
            "spark.driver.memory": "2g",
            "spark.driver.extraJavaOptions": SHORT_JVM_OPTIONS,
        }
    )
    conf["warehouse"] = str(d / "wh-server")
    (d / "settings.yaml").write_text(yaml.safe_dump(conf))
    local = load_settings(d / "settings.yaml", warehouse=str(d / "wh-local"))
    ingest.ingest_paths(spark, local, directory=str(d / "base"))
    country_flows.run(spark, local, UNIVERSES, progress=lambda _m: None)
    return {
        "dir": d,
        "conf": d / "settings.yaml",
        "local": local,
        "remote": load_settings(d / "settings.yaml", warehouse=str(d / "wh-remote")),
    }


@pytest.fixture(scope="module")
def server(case):
    """A background server on a free port with the default pid and token files (where
    --remote finds the token)."""
    port = connect_server.free_port()
    pid_file = connect_token.default_pid_file(port)
    tokens = connect_token.token_file(pid_file)
    out = ok(cli("serve", "--background", "--port", port, conf=case["conf"]))
    assert f"serving sc://127.0.0.1:{port}" in out
    try:
        # the token: in a file only its owner can read, never printed
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        token = tokens.read_text().strip()
        assert len(token) >= 32 and token not in out
        log = pid_file.with_suffix(".log").read_text(errors="replace")
        assert token not in log
        yield f"sc://127.0.0.1:{port}"
    finally:
        pid = int(pid_file.read_text().split()[0])
        stopped = cli("serve", "--stop", "--port", port, conf=case["conf"])
        assert stopped.returncode == 0, stopped.stderr
        # the server's process has ended (not "the port is closed": the port is an ephemeral
        # one, which another test's JVM on the other worker may bind right after it is freed)
        assert not pid_file.exists() and _ended(pid)
        assert not tokens.exists()


def _ended(pid: int) -> bool:
    """No such process, or a zombie: the server is orphaned once `serve --background` exits,
    and where the container's first process reaps no orphans it stays one after it ends."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# a bare pyspark Connect client (not flowmosaic's, which finds the token file)
BARE_CLIENT = r"""
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
print("rows", spark.range(3).count())
"""


def test_a_client_without_the_token_is_refused_and_with_it_served(server):
    port = connect_token.port_of(server)
    token = connect_token.token_file(connect_token.default_pid_file(port)).read_text().strip()
    env = {k: v for k, v in os.environ.items() if k != connect_token.TOKEN_ENV} | {
        "PYARROW_IGNORE_TIMEZONE": "1"
    }

    def bare(address: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", BARE_CLIENT, address],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    for address in (server, f"sc://localhost:{port}/;token=not-{token}"):
        refused = bare(address)
        assert refused.returncode != 0 and "rows" not in refused.stdout, refused.stdout
        assert "UNAUTHENTICATED" in refused.stderr or "nvalid" in refused.stderr, refused.stderr[
            -3000:
        ]
    served = bare(f"sc://localhost:{port}/;token={token}")
    assert served.returncode == 0 and "rows 3" in served.stdout, served.stderr[-3000:]


def frame(spark, path, version=None) -> pd.DataFrame:
    pdf = storage.read(spark, path, version).toPandas()
    return pdf.sort_values(KEY).reset_index(drop=True)


def test_remote_ingest_and_country_flows_equal_local(spark, case, server):
    remote = case["remote"]
    common = ["--remote", server, "--warehouse", remote.warehouse]
    out = ok(cli("ingest", "--input", case["dir"] / "base", *common, conf=case["conf"]))
    assert "counts reconcile: yes" in out
    out = ok(cli("country-flows", "--universe", UNIVERSES, *common, conf=case["conf"]))
    assert "country_flows: FloPctCtry, FloPctCtry-B (matrix engine)" in out

    for name, key in (("fund_days", ["flow_date", "fund_key"]), ("country_flows", KEY)):
        a = storage.read(spark, case["local"].table_path(name)).toPandas()
        b = storage.read(spark, remote.table_path(name)).toPandas()
        assert len(a) > 0 and list(b.columns) == list(a.columns)
        assert_same(
            a.sort_values(key).reset_index(drop=True),
            b.sort_values(key).reset_index(drop=True),
            name,
        )
    assert DAY not in set(b["flow_date"])


def test_nightly_over_remote_changes_only_its_date(spark, case, server):
    wh = case["remote"].warehouse
    path = case["remote"].table_path("country_flows")
    if not storage.exists(spark, path):
        pytest.skip("needs the remote base load of the test before")
    before = storage.current_version(spark, path)
    out = ok(
        cli(
            "nightly",
            "--date",
            DAY,
            "--input",
            case["dir"] / "day",
            "--remote",
            server,
            "--warehouse",
            wh,
            conf=case["conf"],
        )
    )
    assert f"nightly {DAY}" in out and "total" in out and "stale:" not in out
    after = storage.current_version(spark, path)
    assert after == before + 1
    old, new = frame(spark, path, before), frame(spark, path)
    is_day = new["flow_date"] == DAY
    assert is_day.any() and set(new.loc[is_day, "universe"]) == set(UNIVERSES.split(","))
    # every other date exactly as it was
    assert_same(new[~is_day].reset_index(drop=True), old, "other dates")

    # the day's rows as a local-mode run of the same steps gives them
    local = case["local"]
    ingest.ingest_paths(spark, local, directory=str(case["dir"] / "day"))
    country_flows.run(spark, local, UNIVERSES, start=DAY, end=DAY, progress=lambda _m: None)
    want = frame(spark, local.table_path("country_flows"))
    assert_same(
        new[is_day].reset_index(drop=True),
        want[want["flow_date"] == DAY].reset_index(drop=True),
        "the day's rows",
    )

    # a date the day's files do not hold: a clear error, exit 2, country_flows untouched
    wrong = cli(
        "nightly",
        "--date",
        DAY + dt.timedelta(days=1),
        "--input",
        case["dir"] / "day",
        "--remote",
        server,
        "--warehouse",
        wh,
        conf=case["conf"],
    )
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert f"no fund-day rows on {DAY + dt.timedelta(days=1)}" in wrong.stderr
    assert storage.current_version(spark, path) == after
