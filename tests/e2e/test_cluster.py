"""The cluster path, proven: ingest and country-flows submitted with spark-submit (jobs/*.py,
which call flowmosaic.cli.main) to a real standalone master + worker on 127.0.0.1 give the same
tables as local mode. The code reaches the driver and the executors only through the
--py-files zip, which must hold every package of the stage layout."""

import datetime as dt
import os
import subprocess
import sys
import zipfile

import pytest

from flowmosaic import storage, synth
from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.ingest import ingest_paths
from tests.e2e.faults import assert_same, frame
from tests.e2e.standalone import build_py_files, master_state, packages, standalone_cluster, submit

pytestmark = pytest.mark.slow
UNIVERSES = "FloPctCtry,FloPctCtry-B"
TABLES = (
    "share_class_flows",
    "share_classes",
    "funds",
    "fund_days",
    "fund_allocations",
    "quarantine",
    "country_flows",
)


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


def test_spark_submit_on_standalone_cluster_equals_local(spark, make_settings, repo, tmp_path):
    raw = tmp_path / "raw"
    # a cut-down tiny universe: the point is the submit path, not the volume
    synth.generate(
        spark,
        raw,
        scale="tiny",
        seed=5,
        n_funds=40,
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 9, 30),
    )
    local = make_settings(tmp_path / "wh-local")
    ingest_paths(spark, local, directory=str(raw))
    country_flows_run(spark, local, UNIVERSES, progress=lambda _m: None)

    remote_wh = tmp_path / "wh-cluster"
    py_files = build_py_files(repo, tmp_path / "flowmosaic.zip")
    with standalone_cluster(tmp_path / "cluster") as (master, ui):
        for script, args in (
            ("ingest.py", ["--input", str(raw)]),
            ("country_flows.py", ["--universe", UNIVERSES]),
        ):
            log = tmp_path / f"{script}.log"
            done = submit(
                repo, master, script, [*args, "--warehouse", str(remote_wh)], py_files, log
            )
            assert done.returncode == 0, log.read_text()[-4000:]
        apps = master_state(ui).get("completedapps", [])
    # both submissions ran as applications of this master, on its worker
    assert len(apps) == 2, apps

    remote = make_settings(remote_wh)
    for name in TABLES:
        here = [storage.exists(spark, s.table_path(name)) for s in (local, remote)]
        # ingest creates quarantine only when a row is refused: both runs agree on that
        assert here[0] == here[1], (name, here)
        if name == "quarantine" and not here[0]:
            continue
        a, b = frame(spark, local, name), frame(spark, remote, name)
        assert len(a) > 0
        assert_same(a, b, name)  # to 1e-12: another partitioning sums in another order
