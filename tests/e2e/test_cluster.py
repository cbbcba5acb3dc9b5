"""The cluster path, proven on a real standalone master and two 1-core workers on 127.0.0.1
(tests/e2e/standalone.py), with the jobs submitted by spark-submit (jobs/*.py, which call
flowmosaic.cli.main); the code reaches the driver and the executors only through the
--py-files zip, which must hold every package of the stage layout.

One application on the cluster runs jobs/ingest.py and then jobs/country_flows.py (as two
spark-submits would, in one driver: the second reuses the executors the first warmed up). The
ingest gives the same silver tables and quarantine as a local ingest of the same files; the
country-flows part survives SIGKILL of one worker and its executor JVM while that executor runs
tasks (Spark reschedules the lost tasks and recomputes the lost shuffle output on the other
worker), exits 0, and writes the country_flows a local run writes. The inputs are the session's
small universe (tests/e2e/faults.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

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


def victim_executor(driver_ui: int, worker: Worker) -> dict | None:
    """The driver's summary of the worker's executor; None before the driver's UI and the
    executor are up."""
    try:
        ids = {str(e["id"]) for e in worker.state().get("executors", [])}
        apps = _get(f"http://127.0.0.1:{driver_ui}/api/v1/applications")
        if not ids or not apps:
            return None
        execs = _get(f"http://127.0.0.1:{driver_ui}/api/v1/applications/{apps[0]['id']}/executors")
    except (OSError, ValueError):  # the driver's UI is not up yet, or says it is starting
        return None
    return next((e for e in execs if e["id"] in ids), None)


def kill_when_busy(
    proc: subprocess.Popen,
    driver_ui: int,
    victim: Worker,
    started: Callable[[], bool],
    timeout: float = 600,
) -> dict:
    """Once started() (the step to hurt is under way), wait until the victim's executor runs
    a task and has written shuffle output in that step (so losing it loses finished work of
    the step too), then SIGKILL the worker and its executor."""
    deadline = time.time() + timeout
    written_before: int | None = None  # the executor's shuffle bytes when the step started
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"the job ended (status {proc.returncode}) before the victim worker's "
                "executor ran a task with shuffle output"
            )
        e = victim_executor(driver_ui, victim) if started() else None
        if e is not None and written_before is None:
            written_before = e["totalShuffleWrite"]
        elif e is not None and e["activeTasks"] > 0 and e["totalShuffleWrite"] > written_before:
            victim.kill()
            return e
        time.sleep(0.1)
    pytest.fail("the victim worker's executor never got busy")


def appeared(log: Path, text: str) -> Callable[[], bool]:
    """A check that `text` has appeared in a growing log: each call reads only what was
    written since the last one, and once seen it stays true without reading."""
    state = {"at": 0, "seen": False, "tail": ""}

    def check() -> bool:
        if not state["seen"]:
            with open(log, errors="replace") as fh:
                fh.seek(state["at"])
                window = state["tail"] + fh.read()
                state["at"] = fh.tell()
            state["seen"] = text in window
            state["tail"] = window[-len(text) :]
        return bool(state["seen"])

    return check


def one_application(path: Path, steps: list[tuple[Path, list[str]]]) -> Path:
    """A driver script that runs each jobs/ script with its arguments in turn, in one
    application (the Spark session outlives each step), and prints `=== SCRIPT` before each;
    a step's non-zero exit ends it."""
    path.write_text(
        textwrap.dedent(
            f"""
            import runpy, sys
            for script, args in {[(str(p), a) for p, a in steps]!r}:
                print("=== " + script, flush=True)
                sys.argv = [script, *args]
                try:
                    runpy.run_path(script, run_name="__main__")
                except SystemExit as stop:
                    if stop.code:
                        raise
            """
        )
    )
    return path


def test_spark_submit_on_a_cluster_equals_local_and_survives_a_lost_worker(
    spark, repo, tmp_path, tmp_path_factory
):
    uni = prepared_universe(spark, tmp_path_factory)
    local = full_run(spark, uni)  # the local ingest (uni.base) + a local country-flows run
    remote = tmp_path / "wh-cluster"
    py_files = build_py_files(repo, tmp_path / "flowmosaic.zip")
    driver_ui = free_port()
    with cluster(tmp_path / "cluster", workers=2, worker_cores=1, worker_memory="1536m") as c:
        log = tmp_path / "jobs.log"
        steps = [
            (repo / "jobs" / "ingest.py", ["--input", str(uni.raw), "--warehouse", str(remote)]),
            (
                repo / "jobs" / "country_flows.py",
                ["--universe", UNIVERSES, "--warehouse", str(remote)],
            ),
        ]
        proc = start_submit(
            repo,
            c.master,
            one_application(tmp_path / "steps.py", steps),
            [],
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
        cf_started = f"=== {steps[1][0]}"
        try:
            busy = kill_when_busy(proc, driver_ui, c.workers[1], appeared(log, cf_started))
            rc = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        survivor = c.workers[0].state()
        apps = master_state(c.ui_port).get("completedapps", [])
    text = log.read_text()
    assert rc == 0, text[-4000:]
    # both steps ran, in one application of this master
    assert "=== " + str(steps[0][0]) in text and cf_started in text, text[-4000:]
    assert len(apps) == 1, apps
    assert c.workers[1].process.poll() is not None
    # the driver saw the executor go, and the other worker kept its executor
    assert f"Lost executor {busy['id']}" in text, text[-4000:]
    assert survivor.get("executors") or survivor.get("finishedexecutors"), survivor
    # the same tables as local mode (to 1e-12: another partitioning sums in another order)
    assert_same_tables(spark, settings(uni.base), settings(remote), SILVER)
    assert_same_tables(spark, settings(local), settings(remote), ("country_flows",))
