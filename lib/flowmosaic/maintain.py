"""Table upkeep (`flowmosaic maintain`): per table OPTIMIZE, VACUUM and a checkpoint, with a
VACUUM retention that keeps every country_flows version a backtest_runs row records.

    from flowmosaic.maintain import maintain
    print(maintain(spark, settings, tables=["country_flows"], retain_hours=24).describe())

Per table, in this order:
1. OPTIMIZE: ZORDER BY flow_date on the date-bearing tables that grow with history (see ZORDER)
   for the partitions holding more than one file; plain bin-packing compaction elsewhere.
2. VACUUM with a retention in whole hours: the one asked for, else the table's
   delta.deletedFileRetentionDuration (tables.py: 7 days), but never so short that it deletes
   a file a pinned version reads. A version is pinned when a backtest_runs row names it as
   source_version of a source that points at the table. The retention becomes at least the
   age of the oldest pinned version plus MARGIN_HOURS, and a DRY RUN then checks the files
   VACUUM would delete against every pinned version's files; should any be among them (which
   happens when a pin is older than the tombstones Delta keeps: VACUUM then judges a file by its
   modification time), the retention is raised past the oldest such file and checked again.
   `force` keeps the requested retention and says which pinned versions lose files, i.e. no
   longer time-travel. Under the table's deletedFileRetentionDuration, Delta's safety check
   (spark.databricks.delta.retentionDurationCheck.enabled) is lifted for that VACUUM only.
3. A checkpoint of the latest version (skipped over Spark Connect, where Delta 4.4 has no way to
   ask for one; Delta writes one every delta.checkpointInterval commits anyway). Delta cleans up
   log files older than delta.logRetentionDuration after a checkpoint, so it is also skipped,
   unless forced, while a pinned version is older than that.

The report says per table: files before and after OPTIMIZE, its metrics, the VACUUM retention
and why, files deleted, the checkpoint, and the oldest version kept and why.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, StringType

from flowmosaic import storage
from flowmosaic.config import Settings
from flowmosaic.errors import InputError
from flowmosaic.tables import TABLES, Table, table

HOUR_MS = 3_600_000
# Hours added to a pinned version's age: covers the clock moving on between the check and the
# VACUUM, and a concurrent commit whose tombstones carry a time from before the pinned commit.
MARGIN_HOURS = 1
DEFAULT_RETENTION_HOURS = 168  # Delta's own default for delta.deletedFileRetentionDuration
PINNED_TABLES = ("country_flows",)  # the tables backtest_runs.source_version refers to

# ZORDER BY flow_date where it pays: these five grow by flow date, are read by date windows (a
# backtest's sample, an export, a nightly day) and rewritten by date windows (replaceWhere on
# flow_date). Files clustered by date let Delta skip files on those predicates and make a window
# rewrite touch (and copy) fewer files. The other tables are small, or keyed by fund or run
# rather than by date (funds, share_classes, fund_allocations, external_series, quarantine,
# backtest_runs), or hold a row per week or month (the weekly and monthly tables, coverage):
# plain compaction. Either runs only on partitions holding more than one file (_optimize): a
# partition already one file is not rewritten, and a table with nothing to do costs no OPTIMIZE.
ZORDER: dict[str, tuple[str, ...]] = {
    "share_class_flows": ("flow_date",),
    "fund_days": ("flow_date",),
    "country_flows": ("flow_date",),
    "investor_country_flows": ("flow_date",),
    "investor_hedge_flows": ("flow_date",),
}

_UNIT_HOURS = {
    "week": 168.0,
    "day": 24.0,
    "hour": 1.0,
    "minute": 1 / 60,
    "second": 1 / 3600,
    "millisecond": 1 / 3_600_000,
    "microsecond": 1 / 3_600_000_000,
}


def interval_hours(text: str | None) -> float | None:
    """Hours of a Delta interval property ('interval 7 days', '168 hours'); None if unreadable."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(?:interval\s+)?(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*", text.lower())
    if not m or m.group(2) not in _UNIT_HOURS:
        return None
    return float(m.group(1)) * _UNIT_HOURS[m.group(2)]


def _hours(ms: int) -> int:
    return max(0, math.ceil(ms / HOUR_MS))


def _runs(ids: Iterable[str], limit: int = 3) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _same_location(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        local = storage.local_path(p)
        return os.path.normpath(os.path.abspath(local)) if local is not None else p.rstrip("/")

    return norm(a) == norm(b)


def pinned_versions(
    spark: SparkSession, settings: Settings, name: str = "country_flows"
) -> dict[int, set[str]]:
    """{version: run ids} of table `name` recorded in backtest_runs: the rows whose source
    ('PATH:UNIVERSE' or 'TABLE:UNIVERSE', see backtest.io) points at the table."""
    bt = settings.table_path("backtest_runs")
    if not storage.exists(spark, bt):
        return {}
    target = settings.table_path(name)
    rows = (
        storage.read(spark, bt)
        .where("source_version IS NOT NULL")
        .groupBy("source", "source_version")
        .agg(F.collect_set("run_id").alias("runs"))
        .collect()
    )
    pins: dict[int, set[str]] = {}
    for r in rows:
        src = str(r["source"]).rpartition(":")[0]
        src = settings.table_path(src) if src in TABLES else src
        if src and _same_location(src, target):
            pins.setdefault(int(r["source_version"]), set()).update(r["runs"])
    return pins


@dataclass
class TableReport:
    name: str
    path: str
    files_before: int | None = None  # files of the current version, before OPTIMIZE
    files_after: int | None = None  # ... and after
    optimize: str = ""  # what ran: ZORDER / compaction / skipped (why)
    optimize_metrics: dict[str, Any] = field(default_factory=dict)
    retention_hours: int | None = None
    retention_reason: str = ""
    vacuum_deleted: int | None = None  # files (and empty directories) VACUUM deleted
    storage_files_before: int | None = None  # data files on storage, before and after VACUUM
    storage_files_after: int | None = None
    checkpoint_version: int | None = None
    checkpoint_note: str = ""
    oldest_version_kept: int | None = None
    oldest_reason: str = ""
    pinned: dict[int, set[str]] = field(default_factory=dict)  # version -> backtest run ids
    pinned_kept: list[int] = field(default_factory=list)  # checked against the dry run
    lost: dict[int, str] = field(default_factory=dict)  # forced: version -> what goes
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"{self.name} ({self.path})"]
        m = self.optimize_metrics
        if m:
            lines.append(
                f"  OPTIMIZE {self.optimize}: {self.files_before} -> {self.files_after} "
                f"files (removed {m.get('numFilesRemoved', 0)}, added "
                f"{m.get('numFilesAdded', 0)}, partitions optimized "
                f"{m.get('partitionsOptimized', 0)})"
            )
        else:
            lines.append(f"  OPTIMIZE {self.optimize}: {self.files_before} files")
        if self.retention_hours is not None:
            lines.append(
                f"  VACUUM RETAIN {self.retention_hours} HOURS: deleted "
                f"{self.vacuum_deleted if self.vacuum_deleted is not None else '?'} "
                f"files; data files on storage {self.storage_files_before} -> "
                f"{self.storage_files_after}"
            )
            lines.append(f"    retention: {self.retention_reason}")
        for v, what in sorted(self.lost.items()):
            lines.append(f"    NO LONGER TIME-TRAVELS: version {v} ({what})")
        if self.checkpoint_version is not None:
            lines.append(f"  checkpoint at version {self.checkpoint_version}")
        elif self.checkpoint_note:
            lines.append(f"  checkpoint: {self.checkpoint_note}")
        if self.oldest_version_kept is not None:
            lines.append(
                f"  oldest version kept: {self.oldest_version_kept} ({self.oldest_reason})"
            )
        if self.pinned_kept:
            lines.append(
                "  versions recorded by backtest runs, kept: "
                + ", ".join(f"{v} (runs {_runs(self.pinned.get(v, ()))})" for v in self.pinned_kept)
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class MaintainReport:
    tables: list[TableReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.name == name)

    def describe(self) -> str:
        parts = [t.describe() for t in self.tables]
        parts += [f"skipped {s}" for s in self.skipped]
        return "\n".join(parts)


def _literal(value: Any, dtype) -> str:
    if isinstance(dtype, DateType):
        return f"DATE'{value.isoformat()}'"
    if isinstance(dtype, StringType):
        return storage.sql_string(str(value))
    if isinstance(dtype, BooleanType):
        return "true" if value else "false"
    return repr(value)


def partition_predicate(t: Table, partitions: list[tuple]) -> str:
    """A predicate selecting exactly these partitions (values in t.partition_by order)."""
    types = {f.name: f.dataType for f in t.stored_schema.fields}
    terms = []
    for values in partitions:
        conds = [
            f"`{c}` IS NULL" if v is None else f"`{c}` = {_literal(v, types[c])}"
            for c, v in zip(t.partition_by, values)
        ]
        terms.append("(" + " AND ".join(conds) + ")")
    return " OR ".join(terms)


def _optimize(
    spark: SparkSession, t: Table, path: str, rep: TableReport, meta: dict[str, Any]
) -> None:
    """OPTIMIZE (ZORDER BY for the tables of ZORDER, else compaction) on the partitions that
    hold more than one file: a table or partition already one file has nothing to compact or
    cluster, and an OPTIMIZE of nothing still costs its Spark jobs (a few seconds per table)."""
    zorder = ZORDER.get(t.name, ())
    what = f"ZORDER BY ({', '.join(zorder)})" if zorder else "(compaction)"
    if not t.partition_by:
        if (rep.files_before or 0) > 1:
            rep.optimize = what
            rep.optimize_metrics = storage.optimize(spark, path, zorder_by=zorder, metadata=meta)
        else:
            rep.optimize = f"{what} skipped (one file)"
        return
    several = [
        values for values, n in storage.files_per_partition(spark, path, t.partition_by) if n > 1
    ]
    if not several:
        rep.optimize = f"{what} skipped (every partition is one file)"
        return
    rep.optimize = f"{what} on {len(several)} partition(s) with several files"
    rep.optimize_metrics = storage.optimize(
        spark, path, partition_predicate(t, several), zorder, metadata=meta
    )


def _data_files(spark: SparkSession, path: str) -> int:
    return len(storage.list_files(spark, path)[2])


def _maintain_table(
    spark: SparkSession,
    settings: Settings,
    t: Table,
    retain_hours: int | None,
    force: bool,
    pins: dict[int, set[str]],
    say: Callable[[str], None],
) -> TableReport:
    path = settings.table_path(t.name)
    rep = TableReport(t.name, path, pinned=dict(pins))
    meta = {"operation": "maintain", "table": t.name}
    detail = storage.table_detail(spark, path)
    props = detail.get("properties") or {}
    for key, want in t.properties.items():
        if props.get(key) != want:
            rep.notes.append(
                f"property {key} is {props.get(key)!r}, tables.py says {want!r} "
                "(properties are set at creation; not changed here)"
            )
    rep.files_before = int(detail.get("numFiles") or 0)

    say(f"[maintain] {t.name}: OPTIMIZE")
    _optimize(spark, t, path, rep, meta)
    rep.files_after = int(storage.table_detail(spark, path).get("numFiles") or 0)

    # --- VACUUM retention -------------------------------------------------------------------
    tomb_h = (
        interval_hours(props.get("delta.deletedFileRetentionDuration")) or DEFAULT_RETENTION_HOURS
    )
    log_h = interval_hours(props.get("delta.logRetentionDuration")) or 30 * 24
    if retain_hours is None:
        requested, why = math.ceil(tomb_h), "the table's delta.deletedFileRetentionDuration"
    else:
        requested, why = int(retain_hours), "requested"
    now = storage.server_now_ms(spark)
    stamps = storage.commit_timestamps(spark, path)
    current = max(stamps)
    retention, reason = requested, f"{requested} h ({why})"
    readable: dict[int, set[str]] = {}
    for v in sorted(pins):
        if v not in stamps or v > current:
            rep.notes.append(
                f"version {v} (backtest runs {_runs(pins[v])}) is no longer in the "
                "table's log: it was not time-travelable before this run"
            )
            continue
        try:
            readable[v] = storage.version_files(spark, path, v)
        except Exception as exc:  # the version's files or log are gone already
            rep.notes.append(
                f"version {v} (backtest runs {_runs(pins[v])}) is not readable: "
                f"{str(exc).splitlines()[0][:200]}"
            )
    if readable:
        oldest = min(readable)
        need = _hours(now - stamps[oldest]) + MARGIN_HOURS
        if need > requested and not force:
            retention = need
            reason = (
                f"{retention} h, raised from {requested} h ({why}) to keep version "
                f"{oldest}, which backtest run(s) {_runs(pins[oldest])} read"
            )
        elif need > requested:
            reason = (
                f"{requested} h ({why}), forced: shorter than the {need} h that would keep "
                f"version {oldest} (backtest runs {_runs(pins[oldest])})"
            )
        for v in readable:
            if now - stamps[v] > tomb_h * HOUR_MS:
                rep.notes.append(
                    f"version {v} (backtest runs {_runs(pins[v])}) is older than the table's "
                    f"delta.deletedFileRetentionDuration ({tomb_h:g} h): its files are kept "
                    "and delta-rs/polars read it, but Spark refuses the time travel unless "
                    f"{storage.TIME_TRAVEL_CHECK}=false"
                )
            if now - stamps[v] > log_h * HOUR_MS:
                rep.notes.append(
                    f"version {v} (backtest runs {_runs(pins[v])}) is older than "
                    f"delta.logRetentionDuration ({log_h:g} h): the log clean-up that follows "
                    "a checkpoint may remove it"
                )

    rep.storage_files_before = _data_files(spark, path)
    hit: dict[int, set[str]] = {}
    for attempt in range(5):  # the dry-run check of the pinned versions' files
        if not readable:
            break
        doomed = set(
            storage.vacuum(spark, path, retention, dry_run=True, allow_short=retention < tomb_h)
        )
        hit = {v: files & doomed for v, files in readable.items() if files & doomed}
        if not hit or force or attempt == 4:
            break
        mtimes = storage.modification_times(spark, sorted(set().union(*hit.values())))
        raised = (
            max(retention + 1, _hours(now - min(mtimes.values())) + MARGIN_HOURS)
            if mtimes
            else retention + 24
        )
        reason = (
            f"{raised} h, raised from {requested} h ({why}) to keep the files of "
            f"version(s) {', '.join(map(str, sorted(hit)))} that backtest runs read "
            "(older than the tombstones Delta keeps: judged by modification time)"
        )
        retention = raised
    skipped = bool(hit) and not force
    if skipped:
        rep.notes.append(
            "VACUUM skipped: no retention found that keeps every pinned version's files"
        )
    if force:
        rep.lost = {
            v: f"{len(files)} of its {len(readable[v])} files deleted; backtest runs "
            f"{_runs(pins[v])}"
            for v, files in hit.items()
        }
    rep.pinned_kept = sorted(v for v in readable if v not in hit)

    if not skipped:
        rep.retention_hours, rep.retention_reason = retention, reason
        if retention < tomb_h:
            rep.retention_reason += (
                f"; under the table's {tomb_h:g} h, so Delta's "
                "retentionDurationCheck was lifted for this VACUUM only"
            )
        for v in rep.lost:
            say(f"[maintain] {t.name}: version {v} will no longer time-travel (forced)")
        say(f"[maintain] {t.name}: VACUUM RETAIN {retention} HOURS")
        before = storage.current_version(spark, path)
        storage.vacuum(spark, path, retention, allow_short=retention < tomb_h, metadata=meta)
        after = storage.current_version(spark, path)
        rep.storage_files_after = _data_files(spark, path)
        info = storage.commit_info(spark, path, after) if after > before else {}
        metrics = info.get("operationMetrics") or {}
        if str(info.get("operation", "")).upper() == "VACUUM END" and "numDeletedFiles" in metrics:
            rep.vacuum_deleted = int(metrics["numDeletedFiles"])
        else:
            rep.vacuum_deleted = rep.storage_files_before - rep.storage_files_after

    # --- checkpoint -------------------------------------------------------------------------
    old_pins = [v for v in readable if now - stamps[v] > log_h * HOUR_MS]
    if storage.is_connect(spark):
        rep.checkpoint_note = (
            "skipped over Spark Connect (Delta 4.4 has no SQL for it); Delta "
            "writes one every delta.checkpointInterval commits"
        )
    elif old_pins and not force:
        rep.checkpoint_note = (
            f"skipped: version(s) {', '.join(map(str, sorted(old_pins)))} "
            "recorded by backtest runs are older than "
            "delta.logRetentionDuration and the log clean-up after a "
            "checkpoint could remove them"
        )
    else:
        say(f"[maintain] {t.name}: checkpoint")
        rep.checkpoint_version = storage.checkpoint(spark, path)

    # --- the oldest version kept ------------------------------------------------------------
    stamps = storage.commit_timestamps(spark, path)  # after the log clean-up
    first = min(stamps)
    if rep.retention_hours is None:
        rep.oldest_version_kept, rep.oldest_reason = first, "no VACUUM: the oldest in the log"
        return rep
    cutoff = now - rep.retention_hours * HOUR_MS
    # Beyond the tombstones Delta keeps (deletedFileRetentionDuration) VACUUM judges a removed
    # file by its modification time, so only the version current at that horizon is certain.
    horizon = max(cutoff, now - int(tomb_h * HOUR_MS))
    older = [v for v, ts in stamps.items() if ts <= horizon]
    if older:
        rep.oldest_version_kept = max(older)
        rep.oldest_reason = (
            f"the version current {(now - horizon) / HOUR_MS:g} h ago; "
            f"retention {rep.retention_reason}"
        )
    else:
        rep.oldest_version_kept = first
        rep.oldest_reason = (
            f"the oldest in the log; every version is younger than the "
            f"{rep.retention_hours} h retention"
        )
    return rep


def maintain(
    spark: SparkSession,
    settings: Settings,
    tables: Iterable[str] | None = None,
    retain_hours: int | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = print,
) -> MaintainReport:
    """OPTIMIZE, VACUUM and checkpoint the given tables (default: every table of tables.py that
    exists in the warehouse). retain_hours: VACUUM's retention (default: each table's
    delta.deletedFileRetentionDuration), raised to keep versions backtest_runs records unless
    force. See the module docstring."""
    say = progress or (lambda _msg: None)
    if retain_hours is not None and retain_hours < 0:
        raise InputError(f"the retention must be 0 hours or more, got {retain_hours}")
    names = list(dict.fromkeys(table(n).name for n in tables)) if tables else list(TABLES)
    report = MaintainReport()
    for name in names:
        path = settings.table_path(name)
        if not storage.exists(spark, path):
            report.skipped.append(f"{name}: no table at {path}")
            continue
        pins = pinned_versions(spark, settings, name) if name in PINNED_TABLES else {}
        report.tables.append(
            _maintain_table(spark, settings, table(name), retain_hours, force, pins, say)
        )
    return report
