"""Losing a worker mid-job, proven: country-flows submitted with spark-submit to a standalone
cluster of two 1-core workers survives SIGKILL of one worker and its executor JVM while that
executor runs tasks: Spark reschedules the lost tasks (and recomputes the lost shuffle output)
on the other worker, the job exits 0 and the table equals a local-mode run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.e2e.faults import (
    UNIVERSES,
    assert_same_tables,
    copy_warehouse,
    full_run,
    prepared_universe,
    settings,
)
from tests.e2e.standalone import Worker, build_py_files, cluster, free_port, start_submit

# Executor loss is not the job's fault, but Spark may still count a lost task's attempt as a
# failure: allow the default 4 attempts per task, and never exclude the surviving executor.
LOSS_TOLERANT = {
    "spark.task.maxFailures": "4",
    "spark.excludeOnFailure.enabled": "false",
    "spark.executor.memory": "1g",
}


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


def test_worker_killed_mid_job_is_survived_and_tables_equal_local(
    spark, repo, tmp_path, tmp_path_factory
):
    """spark-submit of jobs/country_flows.py on two 1-core workers; one worker and its
    executor are SIGKILLed while the executor runs a task; exit 0, the loss seen by the
    driver, country_flows equal to a local run of the same command."""
    uni = prepared_universe(spark, tmp_path_factory)
    local = full_run(spark, uni)
    remote = copy_warehouse(uni.base, tmp_path / "wh-cluster")
    py_files = build_py_files(repo, tmp_path / "flowmosaic.zip")
    driver_ui = free_port()
    log = tmp_path / "country_flows.log"
    with cluster(tmp_path / "cluster", workers=2, worker_cores=1, worker_memory="1536m") as c:
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
    text = log.read_text()
    assert rc == 0, text[-4000:]
    assert c.workers[1].process.poll() is not None
    # the driver saw the executor go, and the other worker kept its executor
    assert f"Lost executor {busy['id']}" in text, text[-4000:]
    assert survivor.get("executors") or survivor.get("finishedexecutors"), survivor
    assert_same_tables(spark, settings(local), settings(remote), ("country_flows",))
