"""Shared by the fault tests (test_concurrency.py, test_crash_safety.py, test_worker_loss.py):
one small synthetic universe ingested once per pytest session, the CLI in subprocesses (one
process group each, so that a kill takes its JVM and Python workers with it), uncommitted
Delta files, and table comparisons that ignore row order and the last bits of float sums."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import yaml

from flowmosaic import country_flows, storage, synth
from flowmosaic.config import Settings, load_settings
from flowmosaic.ingest import ingest_paths
from tests.conftest import REPO, SHORT_JVM_OPTIONS, SUBPROCESS_CONF
from tests.support.shared import built_once, run_dir

UNIVERSES = "FloPctCtry,FloPctCtry-B"
START, END = dt.date(2020, 1, 1), dt.date(2020, 6, 30)
SEED = 11
SILVER = (
    "share_class_flows",
    "fund_days",
    "funds",
    "share_classes",
    "fund_allocations",
    "quarantine",
)
KEYS = {
    "country_flows": ["universe", "flow_date", "country"],
    "investor_country_flows": [
        "universe",
        "flow_date",
        "investor_domicile",
        "investor_type",
        "country",
    ],
    "share_class_flows": ["flow_date", "share_key"],
    "fund_days": ["flow_date", "fund_key"],
    "funds": ["fund_key"],
    "share_classes": ["share_key"],
    "fund_allocations": ["alloc_month", "fund_key", "country"],
}
VOLATILE = {"run_id", "quarantined_at"}  # differ between two runs of the same ingest
RTOL = 1e-12  # sums of doubles in another order of addition
CLI = "import sys; from flowmosaic.cli import main; sys.exit(main())"
Window = tuple[str, str]  # first and last flow date, yyyy-mm-dd


@dataclass(frozen=True)
class Universe:
    """The raw files, a warehouse they were ingested into (no gold table yet) and a settings
    file for the CLI subprocesses."""

    raw: Path
    base: Path
    conf: Path


def settings_file(path: Path) -> Path:
    """conf/local.yaml cut down for a test subprocess: small driver, 2 shuffle partitions,
    no UI (several run at once on 2 cores), the client compiler only (one short command)."""
    conf = yaml.safe_load((REPO / "conf" / "local.yaml").read_text())
    conf["spark"]["conf"].update(
        {**SUBPROCESS_CONF, "spark.driver.extraJavaOptions": SHORT_JVM_OPTIONS}
    )
    path.write_text(yaml.safe_dump(conf))
    return path


def prepared_universe(spark, tmp_path_factory: pytest.TempPathFactory) -> Universe:
    """The run's universe (40 funds, January to June 2020), generated and ingested the first
    time a test asks for it; later callers (other modules and other xdist workers too) find it
    on disk (tests/support/shared.py). Daily reporters only, without the vendor model's weekly
    and monthly files and share-class currencies: these tests are about faults, concurrency, a
    cluster, object storage and Connect, and those sources are ingested and checked by
    tests/spark (ingest, the periodic and coverage references, the hedge scenario) and the
    demo test."""

    def build(root: Path) -> None:
        uni = _universe(root)
        root.mkdir()
        settings_file(uni.conf)
        synth.generate(
            spark,
            uni.raw,
            scale="tiny",
            seed=SEED,
            n_funds=40,
            start=START,
            end=END,
            vendor_model=False,
        )
        add_rejects(uni.raw)
        ingest_paths(spark, settings(uni.base, uni.conf), directory=str(uni.raw))

    return _universe(built_once(run_dir(tmp_path_factory) / "fault-universe", build))


def _universe(root: Path) -> Universe:
    return Universe(root / "raw", root / "wh-base", root / "settings.yaml")


def full_run(spark, uni: Universe) -> Path:
    """A warehouse where `country-flows --universe UNIVERSES` ran over the whole data range
    after the ingest, uninterrupted and in this process (made once per run)."""
    return _after_ingest(
        uni,
        "wh-full-run",
        lambda wh: country_flows.run(spark, settings(wh), UNIVERSES, progress=lambda _m: None),
    )


FIRST_MONTHS: Window = ("2020-01-01", "2020-02-29")


def first_months_run(spark, uni: Universe) -> Path:
    """A warehouse where country-flows ran over January and February only (FIRST_MONTHS),
    after the ingest: the table the fault tests start from (made once per run; copy it
    before writing)."""
    return _after_ingest(
        uni, "wh-first-months", lambda wh: serial_country_flows(spark, wh, [FIRST_MONTHS])
    )


def _after_ingest(uni: Universe, name: str, compute: Callable[[Path], object]) -> Path:
    """A copy of the ingested warehouse, `compute` run on it, built once per run."""

    def build(wh: Path) -> None:
        copy_warehouse(uni.base, wh)
        compute(wh)

    return built_once(uni.base.parent / name, build)


def add_rejects(raw: Path) -> None:
    """One more flows part file, of rows ingest quarantines (an unknown share class, a
    Saturday, a date that is none), so that the quarantine takes part in every comparison."""
    header = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"
    rows = [
        "2020-02-03,NO-SUCH-SHARE,F000000,10.0,1000.0,1010.0,0.0,0.0",
        "2020-02-01,S0000001,F000000,10.0,1000.0,1010.0,0.0,0.0",
        "2020-13-45,S0000001,F000000,10.0,1000.0,1010.0,0.0,0.0",
    ]
    (raw / "flows" / "part-99999-rejects.csv").write_text("\n".join([header, *rows]) + "\n")


def settings(warehouse: Path, conf: Path | None = None) -> Settings:
    """Settings of conf/local.yaml (or `conf`) with that warehouse."""
    return load_settings(conf or REPO / "conf" / "local.yaml", warehouse=str(warehouse))


def serial_country_flows(spark, wh: Path, windows: list[Window]) -> None:
    """country_flows.run over each window, one after the other, in this process."""
    s = settings(wh)
    for lo, hi in windows:
        country_flows.run(
            spark,
            s,
            UNIVERSES,
            start=dt.date.fromisoformat(lo),
            end=dt.date.fromisoformat(hi),
            progress=lambda _m: None,
        )


def copy_warehouse(src: Path, dst: Path) -> Path:
    """A copy of a warehouse (Delta logs hold paths relative to each table: a copy is a
    table of its own)."""
    shutil.copytree(src, dst)
    return dst


# --- the CLI in a subprocess ---------------------------------------------------------------


@dataclass
class Proc:
    """A `flowmosaic` subprocess, the leader of its own process group; output in files."""

    popen: subprocess.Popen
    out: Path
    err: Path

    def wait(self, timeout: float = 600) -> Done:
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return Done(rc, self.out.read_text(), self.err.read_text())

    def kill(self) -> None:
        """SIGKILL to the whole group: the Python driver, its JVM and its Python workers."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> str:
        assert self.returncode == 0, (self.stdout + self.stderr)[-4000:]
        return self.stdout


def start(*args, conf: Path, logs: Path) -> Proc:
    """Start `flowmosaic ARGS --conf CONF`, its output in LOGS.out and LOGS.err."""
    logs.parent.mkdir(parents=True, exist_ok=True)
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    cmd = [sys.executable, "-c", CLI, *map(str, args), "--conf", str(conf)]
    env = {**os.environ, "PYARROW_IGNORE_TIMEZONE": "1"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    with open(out, "w") as o, open(err, "w") as e:
        popen = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=o, stderr=e, start_new_session=True)
    return Proc(popen, out, err)


def conflict_exit_is_clean(done: Done, command: str, table: str, window: Window) -> None:
    """A run that lost to a concurrent writer after its retries: status 3, one line from
    flowmosaic naming the table and the window, no Python traceback."""
    assert done.returncode == 3, (done.stdout + done.stderr)[-4000:]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    ours = [ln for ln in done.stderr.splitlines() if ln.startswith(f"flowmosaic {command}:")]
    assert len(ours) == 1, done.stderr
    assert table in ours[0] and window[0] in ours[0] and window[1] in ours[0], ours[0]


# --- Delta files ----------------------------------------------------------------------------


def committed_files(table_dir: Path) -> set[str]:
    """Every data file a commit of the table ever added (paths relative to the table)."""
    out: set[str] = set()
    log = table_dir / "_delta_log"
    if not log.is_dir():
        return out
    for f in log.glob("*.json"):
        try:
            lines = f.read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            try:
                action = json.loads(line)
            except json.JSONDecodeError:  # a commit file being written
                continue
            if "add" in action:
                out.add(unquote(action["add"]["path"]))
    return out


def data_files(table_dir: Path) -> set[str]:
    """Parquet data files under the table directory (relative paths), log and dot files
    left out."""
    if not table_dir.is_dir():
        return set()
    out = set()
    for p in table_dir.rglob("*.parquet"):
        rel = p.relative_to(table_dir)
        if not any(part.startswith(("_", ".")) for part in rel.parts):
            out.add(str(rel))
    return out


def uncommitted_files(table_dir: Path) -> set[str]:
    """Data files no commit references: a write under way, or one a crash left behind."""
    return data_files(table_dir) - committed_files(table_dir)


def kill_mid_write(
    proc: Proc, table_dirs: list[Path], timeout: float = 300, poll_s: float = 0.005
) -> tuple[bool, Path | None, set[str]]:
    """Poll until a data file that no commit references appears under one of table_dirs
    (the process is writing it), then SIGKILL the process group. -> (killed, the table being
    written, its uncommitted files at the kill); (False, None, set()) when the process ended
    first. Files present before the call are left out."""
    before = {d: uncommitted_files(d) for d in table_dirs}
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.popen.poll() is not None:
            return False, None, set()
        for d in table_dirs:
            new = uncommitted_files(d) - before[d]
            if new:
                proc.kill()
                return True, d, new
        time.sleep(poll_s)
    proc.kill()
    raise TimeoutError(f"no write under {table_dirs} within {timeout}s")


# --- tables -------------------------------------------------------------------------------


def frame(spark, s: Settings, name: str, version: int | None = None) -> pd.DataFrame:
    """A table as pandas, volatile columns left out, rows sorted by key, then by every other
    column."""
    df = storage.read(spark, s.table_path(name), version)
    cols = [c for c in df.columns if c not in VOLATILE]
    pdf = df.select(*cols).toPandas()
    order = KEYS.get(name, [])
    order = order + sorted(c for c in cols if c not in order)
    return pdf.sort_values(order).reset_index(drop=True)


def assert_same(a: pd.DataFrame, b: pd.DataFrame, obj: str) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=RTOL, obj=obj)


def assert_same_tables(spark, a: Settings, b: Settings, names: tuple[str, ...]) -> None:
    """Same rows in every named table of two warehouses (no duplicate keys either)."""
    for name in names:
        assert storage.exists(spark, b.table_path(name)), f"{name}: no table"
        fa, fb = frame(spark, a, name), frame(spark, b, name)
        if name in KEYS:
            assert not fb.duplicated(KEYS[name]).any(), f"{name}: duplicate keys"
        assert_same(fa, fb, name)
