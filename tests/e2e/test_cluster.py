"""The cluster path, proven on a real standalone master and two 1-core workers on 127.0.0.1
(tests/e2e/standalone.py), with the jobs submitted by spark-submit (jobs/*.py, which call
flowmosaic.cli.main); the code reaches the driver and the executors only through the
--py-files zip, which must hold every package of the stage layout.

One cluster, two applications: jobs/ingest.py gives the same silver tables and quarantine as a
local ingest of the same files; then jobs/country_flows.py survives SIGKILL of one worker and
its executor JVM while that executor runs tasks (Spark reschedules the lost tasks and
recomputes the lost shuffle output on the other worker), exits 0, and writes the country_flows
a local run writes. The inputs are the session's small universe (tests/e2e/faults.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest

from tests.e2e.faults import (
    SILVER,
    UNIVERSES,
    assert_same_tables,
    full_run,
    prepared_universe,
    settings,
)
from tests.e2e.standalone import (
    Worker,
    build_py_files,
    cluster,
    free_port,
    master_state,
    packages,
    start_submit,
    submit,
)

pytestmark = pytest.mark.slow
# Executor loss is not the job's fault, but Spark may still count a lost task's attempt as a
# failure: allow the default 4 attempts per task, and never exclude the surviving executor.
LOSS_TOLERANT = {
    "spark.task.maxFailures": "4",
    "spark.excludeOnFailure.enabled": "false",
    "spark.executor.memory": "1g",
}


def test_py_files_zip_holds_every_package_and_imports_alone(repo, tmp_path):
    zpath = build_py_files(repo, tmp_path / "flowmosaic.zip")
    names = set(zipfile.ZipFile(zpath).namelist())
    pkgs = packages(repo)
    for sub in (
        "flowmosaic.spark",
        "flowmosaic.ingest",
        "flowmosaic.ingest.sources",
        "flowmosaic.country_flows",
        "flowmosaic.export",
        "flowmosaic.backtest",
        "flowmosaic.mosaic",
        "flowmosaic.cli",
    ):
        assert sub in pkgs
    for pkg in pkgs:
        assert pkg.replace(".", "/") + "/__init__.py" in names, pkg
    for f in (
        "flowmosaic/tables.py",
        "flowmosaic/storage.py",
        "flowmosaic/country_flows/job.py",
        "flowmosaic/country_flows/matrix.py",
        "flowmosaic/ingest/driver.py",
    ):
        assert f in names, f
    # the entry points' imports resolve from the zip alone (it comes first on the path)
    code = (
        "import importlib, sys; mods = sys.argv[1:]; "
        "[importlib.import_module(m) for m in mods]; "
        "import flowmosaic, flowmosaic.cli; print(flowmosaic.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(zpath)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            *pkgs,
            "flowmosaic.country_flows.job",
            "flowmosaic.country_flows.matrix",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(str(zpath)), done.stdout


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def executor_busy(driver_ui: int, worker: Worker) -> dict | None:
    """The driver's summary of the worker's executor once it runs a task and has written
    shuffle output (so losing it loses finished work too); None before that."""
    try:
        ids = {str(e["id"]) for e in worker.state().get("executors", [])}
        apps = _get(f"http://127.0.0.1:{driver_ui}/api/v1/applications")
        if not ids or not apps:
            return None
        execs = _get(f"http://127.0.0.1:{driver_ui}/api/v1/applications/{apps[0]['id']}/executors")
    except (OSError, ValueError):  # the driver's UI is not up yet, or says it is starting
        return None
    for e in execs:
        if e["id"] in ids and e["activeTasks"] > 0 and e["totalShuffleWrite"] > 0:
            return e
    return None


def kill_when_busy(
    proc: subprocess.Popen, driver_ui: int, victim: Worker, timeout: float = 600
) -> dict:
    """Wait until the victim's executor is busy, then SIGKILL the worker and its executor."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"the job ended (status {proc.returncode}) before the victim worker's "
                "executor ran a task with shuffle output"
            )
        busy = executor_busy(driver_ui, victim)
        if busy is not None:
            victim.kill()
            return busy
        time.sleep(0.1)
    pytest.fail("the victim worker's executor never got busy")


def test_spark_submit_on_a_cluster_equals_local_and_survives_a_lost_worker(
    spark, repo, tmp_path, tmp_path_factory
):
    uni = prepared_universe(spark, tmp_path_factory)
    local = full_run(spark, uni)  # the local ingest (uni.base) + a local country-flows run
    remote = tmp_path / "wh-cluster"
    py_files = build_py_files(repo, tmp_path / "flowmosaic.zip")
    driver_ui = free_port()
    with cluster(tmp_path / "cluster", workers=2, worker_cores=1, worker_memory="1536m") as c:
        log = tmp_path / "ingest.log"
        done = submit(
            repo,
            c.master,
            "ingest.py",
            ["--input", str(uni.raw), "--warehouse", str(remote)],
            py_files,
            log,
            extra_conf={"spark.executor.memory": "1g"},
            executor_cores=1,
        )
        assert done.returncode == 0, log.read_text()[-4000:]
        log = tmp_path / "country_flows.log"
        proc = start_submit(
            repo,
            c.master,
            "country_flows.py",
            ["--universe", UNIVERSES, "--warehouse", str(remote)],
            py_files,
            log,
            executor_cores=1,
            extra_conf={
                **LOSS_TOLERANT,
                "spark.ui.enabled": "true",
                "spark.ui.port": str(driver_ui),
                "spark.ui.showConsoleProgress": "false",
            },
        )
        try:
            busy = kill_when_busy(proc, driver_ui, c.workers[1])
            rc = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        survivor = c.workers[0].state()
        apps = master_state(c.ui_port).get("completedapps", [])
    text = log.read_text()
    assert rc == 0, text[-4000:]
    # both submissions ran as applications of this master
    assert len(apps) == 2, apps
    assert c.workers[1].process.poll() is not None
    # the driver saw the executor go, and the other worker kept its executor
    assert f"Lost executor {busy['id']}" in text, text[-4000:]
    assert survivor.get("executors") or survivor.get("finishedexecutors"), survivor
    # the same tables as local mode (to 1e-12: another partitioning sums in another order)
    assert_same_tables(spark, settings(uni.base), settings(remote), SILVER)
    assert_same_tables(spark, settings(local), settings(remote), ("country_flows",))
