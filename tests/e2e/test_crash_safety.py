"""Crash safety, proven: `flowmosaic country-flows` and `flowmosaic ingest` SIGKILLed (the
process group: Python driver, JVM, Python workers) while a Delta write is under way, i.e.
after the write's first data file appeared under the table and before its commit. Delta
commits atomically, so the killed write is invisible: the table is readable and at its
previous version and content (the files the kill left behind are referenced by no commit),
and rerunning the same command converges to what an uninterrupted run leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowmosaic import storage
from flowmosaic.cli import main as cli_main
from tests.e2e.faults import (
    SILVER,
    UNIVERSES,
    Proc,
    Universe,
    assert_same,
    assert_same_tables,
    copy_warehouse,
    first_months_run,
    frame,
    full_run,
    kill_mid_write,
    prepared_universe,
    settings,
    start,
    uncommitted_files,
)


@pytest.fixture(scope="module")
def universe(spark, tmp_path_factory) -> Universe:
    return prepared_universe(spark, tmp_path_factory)


def slower(conf: Path, out: Path) -> Path:
    """The settings file at local[1]: one task at a time, a longer write to catch."""
    data = yaml.safe_load(conf.read_text())
    data["spark"]["master"] = "local[1]"
    out.write_text(yaml.safe_dump(data))
    return out


def killed_mid_write(
    fresh, command: list, universe: Universe, watch: str, work: Path
) -> tuple[Path, set[str]]:
    """Run `flowmosaic COMMAND --warehouse W` on fresh() warehouses until one run is killed
    mid-write of the table `watch` (a run that ends first, having written everything, is
    retried on a new warehouse at local[1]). -> (that warehouse, the uncommitted files seen)."""
    confs = [universe.conf, slower(universe.conf, work / "slow.yaml")]
    for attempt, conf in enumerate(confs * 2):
        wh = fresh(work / f"wh-{attempt}")
        proc: Proc = start(*command, "--warehouse", wh, conf=conf, logs=work / f"killed-{attempt}")
        killed, _, files = kill_mid_write(proc, [wh / watch])
        if killed and files <= uncommitted_files(wh / watch):
            return wh, files
        if not killed:  # it ended first: it must have succeeded
            done = proc.wait()
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        # else the commit landed between seeing the file and the kill: try again
    pytest.fail(f"{command[0]} finished before a write of {watch} could be caught")


def test_country_flows_killed_mid_write_leaves_the_table_and_a_rerun_converges(
    spark, universe, tmp_path
):
    """country_flows holds January and February; a full-window run is killed while writing:
    the table is still at its version, with January and February only; the same command run
    again gives what an uninterrupted run gives."""
    before = first_months_run(spark, universe)  # read only; the runs write to copies
    s_before = settings(before)
    version = storage.current_version(spark, s_before.table_path("country_flows"))
    content = frame(spark, s_before, "country_flows")

    command = ["country-flows", "--universe", UNIVERSES]
    wh, files = killed_mid_write(
        lambda p: copy_warehouse(before, p), command, universe, "gold/country_flows", tmp_path
    )
    s = settings(wh)
    path = s.table_path("country_flows")
    assert storage.current_version(spark, path) == version
    assert files <= uncommitted_files(Path(path))  # left behind, referenced by no commit
    assert_same(frame(spark, s, "country_flows"), content, "country_flows after the kill")

    # the same command again (through the CLI's main, in this process): the whole range,
    # as the uninterrupted run over the whole range leaves it
    assert cli_main([*command, "--warehouse", str(wh), "--conf", str(universe.conf)]) == 0
    assert storage.current_version(spark, path) == version + 1
    assert_same_tables(spark, settings(full_run(spark, universe)), s, ("country_flows",))
    assert len(frame(spark, s, "country_flows")) > len(content)


def test_ingest_killed_mid_write_and_rerun_equals_an_uninterrupted_ingest(
    spark, universe, tmp_path
):
    """An ingest into an empty warehouse is killed while writing share_class_flows, after
    funds, share classes, allocations and fund_days were committed: every table is readable,
    share_class_flows holds no row; the same ingest run again leaves every silver table and
    the quarantine as one uninterrupted ingest into a fresh warehouse does."""
    command = ["ingest", "--input", universe.raw]
    wh, files = killed_mid_write(
        lambda p: p, command, universe, "silver/share_class_flows", tmp_path
    )
    s = settings(wh)
    scf = s.table_path("share_class_flows")
    assert files <= uncommitted_files(Path(scf))
    assert storage.read(spark, scf).count() == 0  # created, never written
    assert storage.read(spark, s.table_path("fund_days")).count() > 0
    for name in SILVER:
        if storage.exists(spark, s.table_path(name)):
            storage.read(spark, s.table_path(name)).count()  # readable

    assert cli_main([*map(str, command), "--warehouse", str(wh), "--conf", str(universe.conf)]) == 0
    assert_same_tables(spark, settings(universe.base), s, SILVER)
    assert len(frame(spark, s, "quarantine")) == 3
