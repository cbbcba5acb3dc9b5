"""Concurrent writers, proven on the CLI: two `flowmosaic country-flows` processes at once on
windows of one universe (disjoint months; overlapping months), and two `flowmosaic ingest`
processes restating flows of different dates in one month, end with the tables a serial run
of the same commands gives. A writer that loses to the other is retried (storage.retrying); if
retries ran out it would exit 3 with one line naming the table and the window, never a
traceback, and change nothing. The exhausted-retries path is forced once with a real Delta
conflict, through the CLI's main."""

from __future__ import annotations

import datetime as dt
import operator
import threading
import time
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from flowmosaic import country_flows, storage
from flowmosaic.cli import main as cli_main
from flowmosaic.errors import InputError
from flowmosaic.ingest import ingest_paths
from tests.e2e.faults import (
    FIRST_MONTHS,
    KEYS,
    UNIVERSES,
    Done,
    Universe,
    Window,
    assert_same,
    assert_same_tables,
    conflict_exit_is_clean,
    copy_warehouse,
    first_months_run,
    frame,
    full_run,
    prepared_universe,
    serial_country_flows,
    settings,
    start,
)


@pytest.fixture(scope="module")
def universe(spark, tmp_path_factory) -> Universe:
    return prepared_universe(spark, tmp_path_factory)


def test_two_jobs_creating_a_table_at_once_both_go_on(spark, tmp_path):
    """The first runs of two jobs at once on a fresh warehouse create their table at the same
    moment (storage.ensure). Delta fails the later creation (DELTA_PROTOCOL_CHANGED, IF NOT
    EXISTS notwithstanding), which ended that job with a traceback (bug: 6 of 6 races failed
    before the fix); now both go on with the one table created, at version 0."""
    for attempt in range(3):
        s = settings(tmp_path / f"wh-{attempt}")
        barrier = threading.Barrier(2)
        paths: list[str] = []
        errors: list[BaseException] = []

        def create(s=s, barrier=barrier, paths=paths, errors=errors) -> None:
            barrier.wait()
            try:
                paths.append(storage.ensure(spark, s, "country_flows"))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        path = s.table_path("country_flows")
        assert paths == [path, path]
        assert storage.current_version(spark, path) == 0
        assert "flow_month" in storage.read(spark, path).columns


def test_creation_seeing_another_jobs_unfinished_log_waits_and_a_foreign_directory_is_refused(
    spark, tmp_path, monkeypatch
):
    """A job whose CREATE meets another job's _delta_log before that job's first commit is in
    (Delta: DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION; CI saw it with three country-flows
    processes on a fresh warehouse) waits and finds the table instead of failing. The race is
    staged: the first CREATE lets "the other job" create the table, then fails as Delta does.
    The same failure on a directory holding files of something else is refused at once, with
    one line naming them."""
    s = settings(tmp_path / "wh")
    real_sql = spark.sql
    waits: list[float] = []
    creates: list[str] = []

    def racing_sql(query: str, *args, **kwargs):
        if query.lstrip().upper().startswith("CREATE TABLE") and not creates:
            creates.append(query)
            if not (Path(s.table_path("country_flows")) / "notes.txt").exists():
                real_sql(query, *args, **kwargs)  # the other job's commit lands
            raise RuntimeError(
                "[DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION] Cannot create table: the "
                "associated location is not empty and also not a Delta table."
            )
        return real_sql(query, *args, **kwargs)

    class StorageClock:  # storage's own time module only: py4j's threads sleep too
        sleep = staticmethod(waits.append)

        def __getattr__(self, name):
            return getattr(time, name)

    monkeypatch.setattr(spark, "sql", racing_sql)
    monkeypatch.setattr(storage, "time", StorageClock())
    assert storage.ensure(spark, s, "country_flows") == s.table_path("country_flows")
    assert len(creates) == 1 and len(waits) == 1
    assert storage.current_version(spark, s.table_path("country_flows")) == 0

    s = settings(tmp_path / "wh2")
    creates.clear()
    foreign = Path(s.table_path("country_flows"))
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"not a Delta table but holds files \(notes.txt\)"):
        storage.ensure(spark, s, "country_flows")
    assert len(waits) == 1


def country_flows_at_once(uni: Universe, wh: Path, windows: list[Window], logs: Path) -> list[Done]:
    """`flowmosaic country-flows` over each window, all started at once; their results."""
    procs = [
        start(
            "country-flows",
            "--universe",
            UNIVERSES,
            "--start",
            lo,
            "--end",
            hi,
            "--warehouse",
            wh,
            conf=uni.conf,
            logs=logs / f"cf-{i}",
        )
        for i, (lo, hi) in enumerate(windows)
    ]
    return [p.wait() for p in procs]


def check_outcomes(
    results: list[Done], windows: list[Window], command: str, table: str
) -> list[Window]:
    """Each run succeeded, or lost cleanly (status 3, one line, no traceback); at least one
    succeeded. -> the windows that were written."""
    written = []
    for done, window in zip(results, windows):
        if done.returncode == 3:
            conflict_exit_is_clean(done, command, table, window)
        else:
            done.ok()
            assert "Traceback" not in done.stderr, done.stderr
            written.append(window)
    assert written, "every concurrent run lost"
    return written


def months_of(pdf: pd.DataFrame) -> set[str]:
    return {d.strftime("%Y-%m") for d in pd.to_datetime(pdf["flow_date"])}


def test_disjoint_and_overlapping_windows_at_once_equal_a_serial_run(spark, universe, tmp_path):
    """Three country-flows runs started together on a table that already holds January and
    February: March alone (a month no other run writes), April-May and May (a shared month).
    Each succeeds or loses cleanly; the table is what the successful runs one after the other
    leave: the earlier months kept, every month written once (no row twice), both universes.
    Serial runs of windows leave, on each window, the rows of one run over the whole range (a
    date's rows depend on that date alone: tests/spark/country_flows/test_job.py), so the
    reference is the session's full run cut to January, February and the windows written.
    (Two jobs creating the table at once: test_two_jobs_creating_a_table_at_once_both_go_on.)"""
    windows = [
        ("2020-03-01", "2020-03-31"),
        ("2020-04-01", "2020-05-31"),
        ("2020-05-01", "2020-05-31"),
    ]
    wh = copy_warehouse(first_months_run(spark, universe), tmp_path / "wh-concurrent")

    results = country_flows_at_once(universe, wh, windows, tmp_path / "logs")
    written = check_outcomes(results, windows, "country-flows", "country_flows")
    got = frame(spark, settings(wh), "country_flows")
    full = frame(spark, settings(full_run(spark, universe)), "country_flows")
    day = full["flow_date"].astype(str)
    kept = reduce(operator.or_, [day.between(lo, hi) for lo, hi in [FIRST_MONTHS, *written]])
    assert not got.duplicated(KEYS["country_flows"]).any(), "duplicate keys"
    assert_same(got, full[kept].reset_index(drop=True), "country_flows")
    months = {"2020-01", "2020-02"}
    for lo, hi in written:
        months |= {m.strftime("%Y-%m") for m in pd.date_range(lo[:7], hi[:7], freq="MS")}
    assert months_of(got) == months
    assert set(got["universe"]) == set(UNIVERSES.split(","))


def restated_flows(raw: Path, out: Path, day: dt.date, bump: float) -> Path:
    """The raw flow rows of one day, restated: Flow and AssetsEnd raised by `bump` (the
    identity still holds), plus one row of an unknown share class (quarantined)."""
    parts = sorted((raw / "flows").glob("*.csv"))
    flows = pd.concat([pd.read_csv(p, dtype=str) for p in parts])
    rows = flows[flows["ReportDate"] == day.isoformat()].copy()
    assert len(rows) > 0, day
    for col in ("Flow", "AssetsEnd"):
        rows[col] = (rows[col].astype(float) + bump).map(repr)
    bad = rows.iloc[[0]].copy()
    bad["ShareId"] = "NO-SUCH-SHARE-CLASS"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([rows, bad]).to_csv(out, index=False)
    return out


def test_restated_flows_of_one_month_at_once_equal_a_serial_run(spark, universe, tmp_path):
    """Two `flowmosaic ingest --flows` runs at once, each restating another day of March
    (same share_class_flows and fund_days partition, same quarantine table): every silver
    table as the two ingests one after the other leave it, both restatements in."""
    days = [dt.date(2020, 3, 10), dt.date(2020, 3, 20)]
    files = [
        restated_flows(universe.raw, tmp_path / "in" / f"flows-{d}.csv", d, 1000.0 + i)
        for i, d in enumerate(days)
    ]
    wh = copy_warehouse(universe.base, tmp_path / "wh-concurrent")
    procs = [
        start(
            "ingest",
            "--flows",
            f,
            "--warehouse",
            wh,
            conf=universe.conf,
            logs=tmp_path / "logs" / f"ingest-{i}",
        )
        for i, f in enumerate(files)
    ]
    results = [p.wait() for p in procs]
    windows = [(str(d), str(d)) for d in days]
    written = check_outcomes(results, windows, "ingest", "silver/")
    for done in results:
        if done.returncode == 0:
            assert "counts reconcile: yes" in done.stdout, done.stdout

    serial = copy_warehouse(universe.base, tmp_path / "wh-serial")
    for f, w in zip(files, windows):
        if w in written:
            ingest_paths(spark, settings(serial), flows=str(f))
    assert_same_tables(
        spark, settings(serial), settings(wh), ("share_class_flows", "fund_days", "quarantine")
    )
    scf = frame(spark, settings(wh), "share_class_flows")
    base = frame(spark, settings(universe.base), "share_class_flows")
    for (day, _), bump in zip(written, (1000.0, 1001.0)):
        d = dt.date.fromisoformat(day)
        new, old = scf[scf["flow_date"] == d], base[base["flow_date"] == d]
        assert len(new) == len(old) > 0
        assert np.allclose(new["flow"].to_numpy() - old["flow"].to_numpy(), bump)
    q = frame(spark, settings(wh), "quarantine")
    unknown = q.loc[q["reason"] == "unknown_share_class", "source_file"]
    assert sorted(Path(f).name for f in unknown if Path(f).name.startswith("flows-")) == sorted(
        f"flows-{d}.csv" for d, _ in written
    )


def test_exhausted_retries_exit_3_with_one_line_and_leave_the_table(
    spark, universe, tmp_path, monkeypatch, capsys
):
    """The path the concurrent tests may not reach: a country-flows run whose commit keeps
    losing to another writer (a real Delta conflict: the same month committed while the run
    writes; one attempt allowed) ends through the CLI with status 3 and one line naming the
    table and the window; the table is as the other writer left it."""
    wh = copy_warehouse(universe.base, tmp_path / "wh")
    s = settings(wh, universe.conf)
    serial_country_flows(spark, wh, [("2020-03-01", "2020-03-31")])
    path = s.table_path("country_flows")
    before = storage.current_version(spark, path)
    gate = tmp_path / "gate"
    gate.mkdir()

    def other_writer() -> None:  # waits for the CLI's write job, then commits March again
        import time

        deadline = time.time() + 120
        while not (gate / "writing").exists() and time.time() < deadline:
            time.sleep(0.05)
        march = storage.read(spark, path).where(F.month("flow_date") == 3)
        storage.replace_where(
            march.localCheckpoint(),
            path,
            "flow_date >= DATE'2020-03-01' AND flow_date <= DATE'2020-03-31'",
            {"job": "other-writer"},
        )
        (gate / "committed").touch()

    def hold(pdf_iter, gate_dir=str(gate)):
        import os
        import time

        try:  # the first task waits (the other writer needs the second core)
            os.close(os.open(os.path.join(gate_dir, "writing"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            yield from pdf_iter
            return
        deadline = time.time() + 120
        while not os.path.exists(os.path.join(gate_dir, "committed")) and time.time() < deadline:
            time.sleep(0.05)
        yield from pdf_iter

    clustered = country_flows.job.clustered_by_month
    monkeypatch.setattr(
        country_flows.job,
        "clustered_by_month",
        lambda df, *a: clustered(df, *a).mapInPandas(hold, df.schema),
    )
    monkeypatch.setattr(storage, "RETRY_ATTEMPTS", 1)
    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        rc = cli_main(
            [
                "country-flows",
                "--universe",
                UNIVERSES,
                "--start",
                "2020-03-01",
                "--end",
                "2020-03-31",
                "--warehouse",
                str(wh),
                "--conf",
                str(universe.conf),
            ]
        )
    finally:
        (gate / "committed").touch()
        thread.join()
    err = capsys.readouterr().err
    conflict_exit_is_clean(
        Done(rc, "", err), "country-flows", "country_flows", ("2020-03-01", "2020-03-31")
    )
    assert "other-writer" in err
    assert storage.current_version(spark, path) == before + 1
    assert_same(
        frame(spark, s, "country_flows"), frame(spark, s, "country_flows", before), "country_flows"
    )
