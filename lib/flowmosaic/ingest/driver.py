"""The source-agnostic ingest driver (docs/ingest.md): locate and check every input before
anything is written, then per source, in dependency order (funds, share classes, allocations,
external series, flows): read, parse, check, count, write the accepted rows; last, one
quarantine commit for every source's rejected rows.

Write modes (Source.write_mode):
- dimension (funds, share classes): merged by vendor id with stable integer keys; the small
  table is rewritten whole, and only when something changed (ingest/dims.py).
- months (allocations): the batch's accepted report months are replaced.
- series (external series): the batch's series are replaced.
- window (flows): the window from the batch's first to last valid flow date is replaced in
  share_class_flows and fund_days (ingest/flows.py).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from functools import reduce

import pandas as pd
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from flowmosaic import storage
from flowmosaic.calendar import flow_dates
from flowmosaic.config import Settings, load_countries
from flowmosaic.errors import InputError
from flowmosaic.ingest import dims, inputs
from flowmosaic.ingest import flows as flow_passes
from flowmosaic.ingest import fund_days as fd
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import REASONS, any_rule, first_reason
from flowmosaic.ingest.report import IngestReport, SourceReport
from flowmosaic.ingest.sources import (
    Context,
    IdentityTolerance,
    Source,
    external_series,
    flows,
    funds,
    share_classes,
)
from flowmosaic.ingest.sources import allocations as alloc_spec
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import table

JOB = "ingest"
SPECS: dict[str, Source] = {
    s.name: s
    for s in (funds.SPEC, share_classes.SPEC, alloc_spec.SPEC, external_series.SPEC, flows.SPEC)
}
ORDER = ("funds", "share_classes", "allocations", "external_series", "flows")
# the sources an --input DIR is searched for (external series are ingested on their own)
DIRECTORY_SOURCES = ("funds", "share_classes", "allocations", "flows")


def _silver(df: DataFrame, name: str) -> DataFrame:
    return df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in table(name).schema.fields]
    )


def _quarantine_columns(
    df: DataFrame, source_table: str, content, run_id: str, at: dt.datetime
) -> DataFrame:
    return df.select(
        F.lit(run_id).alias("run_id"),
        F.lit(source_table).alias("source_table"),
        F.col("_source_file").alias("source_file"),
        content.alias("row_content"),
        F.col("_reason").alias("reason"),
        F.col("_detail").alias("detail"),
        F.lit(at).cast("timestamp").alias("quarantined_at"),
    )


class Run:
    """One ingest run's state: inputs, dimension frames, report, quarantine parts."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        inputs_: dict[str, RawInput],
        ctx: Context,
        run_id: str,
        say: Callable[[str], None],
    ):
        self.spark, self.settings, self.inputs, self.ctx = spark, settings, inputs_, ctx
        self.run_id, self.say = run_id, say
        self.started = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        self.report = IngestReport(run_id, {}, ctx.tolerance)
        self.quarantine: list[DataFrame] = []
        self._dims: dict[str, pd.DataFrame] = {}
        # fund_days to rebuild (share classes changed)
        self.refresh_dates: set[dt.date] | None = None
        for s, inp in inputs_.items():
            rep = SourceReport(s, SPECS[s].table, [inp.path], inp.fmt, len(inp.files), inp.layout)
            if inp.ignored_files:
                rep.notes.append(
                    f"ignored {len(inp.ignored_files)} file(s) that are not "
                    f".csv/.parquet: {', '.join(inp.ignored_files[:5])}"
                )
            if inp.ignored_columns:
                rep.notes.append(f"ignored column(s): {', '.join(inp.ignored_columns)}")
            self.report.sources[s] = rep

    def meta(self, **extra) -> dict:
        return {
            "job": JOB,
            "run_id": self.run_id,
            "files": {s: inp.path for s, inp in self.inputs.items()},
            **extra,
        }

    # --- dimensions ---------------------------------------------------------------------------
    def dim(self, name: str) -> pd.DataFrame:
        """The dimension table as it stands (this run's merge included), on the driver."""
        if name not in self._dims:
            path = self.settings.table_path(name)
            cols = table(name).columns
            if storage.exists(self.spark, path):
                stored: pd.DataFrame = storage.read(self.spark, path).toPandas()
                self._dims[name] = stored[cols]
            else:
                self._dims[name] = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        return self._dims[name]

    def fund_ref(self) -> DataFrame:
        """fund_id -> _fund_key of every known fund (this batch's and the table's)."""
        f = self.dim("funds")
        pdf = pd.DataFrame(
            {"fund_id": f["fund_id"].astype(str), "_fund_key": f["fund_key"].astype("int32")}
        )
        schema = "fund_id string, _fund_key int"
        frame = (
            self.spark.createDataFrame(pdf, schema)
            if len(pdf)
            else self.spark.createDataFrame([], schema)
        )
        return F.broadcast(frame)

    # --- the sources ----------------------------------------------------------------------------
    def run_source(self, name: str) -> None:
        spec, inp, rep = SPECS[name], self.inputs[name], self.report.sources[name]
        raw = inputs.read(self.spark, inp, self._vendors(spec, inp))
        parsed = spec.parse(raw, inp, self.ctx)
        if spec.write_mode in ("dimension", "series"):
            self._small(spec, inp, rep, parsed)
        elif spec.write_mode == "months":
            self._allocations(spec, inp, rep, parsed)
        else:
            self._flows(spec, inp, rep, raw, parsed)

    @staticmethod
    def _vendors(spec: Source, inp: RawInput) -> list[str] | None:
        return None if inp.layout == "wide" else list(inp.required)

    def _small(self, spec: Source, inp: RawInput, rep: SourceReport, parsed: DataFrame) -> None:
        """Small sources (dimensions, external series): checked in one job, the result
        brought to the driver, where it is counted, split and written."""
        keys = [F.col(k) for k in spec.dup_key]
        valid = reduce(lambda a, b: a & b, [k.isNotNull() for k in keys])
        n = F.count(F.lit(1)).over(Window.partitionBy(*keys))
        df = parsed.withColumn("_dup_n", F.when(valid & (n > 1), n))
        if spec.name == "share_classes":
            df = df.join(self.fund_ref(), "fund_id", "left")
        reason, detail = first_reason(spec.rules(inp, self.ctx))
        silver = [c for c in table(spec.table).columns if c in df.columns]
        rows: pd.DataFrame = df.select(
            *silver,
            *(["_fund_key"] if spec.name == "share_classes" else []),
            reason.alias("_reason"),
            detail.alias("_detail"),
            spec.content(inp).alias("_content"),
            "_source_file",
        ).toPandas()
        rep.read = len(rows)
        bad = rows[rows["_reason"].notna()]
        ok = rows[rows["_reason"].isna()].drop(
            columns=["_reason", "_detail", "_content", "_source_file"]
        )
        rep.accepted = len(ok)
        rep.set_reasons(bad["_reason"].value_counts().to_dict())
        if len(bad):
            q = pd.DataFrame(
                {
                    "run_id": self.run_id,
                    "source_table": spec.table,
                    "source_file": bad["_source_file"],
                    "row_content": bad["_content"],
                    "reason": bad["_reason"],
                    "detail": bad["_detail"],
                    "quarantined_at": pd.Timestamp(self.started),
                }
            )
            self.quarantine.append(self.spark.createDataFrame(q, table("quarantine").schema))
        if spec.write_mode == "dimension":
            self._write_dimension(spec, rep, ok)
        else:
            self._write_series(spec, rep, ok)

    def _write_dimension(self, spec: Source, rep: SourceReport, ok: pd.DataFrame) -> None:
        if spec.name == "funds":
            id_col, key_col = "fund_id", "fund_key"
        else:
            ok = ok.rename(columns={"_fund_key": "fund_key"})
            id_col, key_col = "share_id", "share_key"
        cols = table(spec.table).columns
        path = storage.ensure(self.spark, self.settings, spec.table)

        def read_merge_write() -> dims.Merged:
            # One unit, retried whole: after another ingest's commit the batch is merged into
            # the table as that ingest left it, so neither run's additions are lost and no key
            # is given twice (retrying only the write would put back the stale merge).
            version = storage.current_version(self.spark, path)
            stored: pd.DataFrame = storage.read(self.spark, path, version).toPandas()
            merged = dims.merge(stored[cols], ok, id_col, key_col, cols)
            if merged.changed:
                if storage.current_version(self.spark, path) != version:
                    raise storage.TableMoved(f"{path} moved on from version {version}")
                df = self.spark.createDataFrame(merged.table, table(spec.table).schema)
                meta = self.meta(table=spec.table, new=len(merged.new), updated=len(merged.updated))
                storage.overwrite(df, path, meta, retry=False)
            return merged

        merged = storage.retrying(self.spark, path, read_merge_write, self.meta(table=spec.table))
        # a changed share class (investor type or fund): fund_days is rebuilt on its dates,
        # where a new investor type takes effect (docs/ingest.md, "11. Share classes that
        # change type or fund": a move to another fund does not change past fund-days)
        if spec.name == "share_classes" and merged.updated:
            self.refresh_dates = set()
            self._dates_of_share_classes(merged)
        rep.written = merged.changed
        self._dims[spec.table] = merged.table
        self.report.tables[spec.table] = storage.current_version(self.spark, path)

    def _dates_of_share_classes(self, merged: dims.Merged) -> None:
        """The flow dates on which share classes that changed type or fund have rows."""
        path = self.settings.table_path("share_class_flows")
        if not storage.exists(self.spark, path):
            return
        t = merged.table
        keys = t.loc[t["share_id"].isin(merged.updated), "share_key"].astype(int).tolist()
        rows = (
            storage.read(self.spark, path)
            .where(F.col("share_key").isin(keys))
            .select("flow_date")
            .distinct()
            .collect()
        )
        self.refresh_dates = {r[0] for r in rows}

    def _write_series(self, spec: Source, rep: SourceReport, ok: pd.DataFrame) -> None:
        path = storage.ensure(self.spark, self.settings, spec.table)
        if ok.empty:
            rep.written = 0
            return
        names = sorted(ok["series"].unique())
        pred = f"series IN ({', '.join(storage.sql_string(s) for s in names)})"
        df = self.spark.createDataFrame(ok[table(spec.table).columns], table(spec.table).schema)
        storage.replace_where(df, path, pred, self.meta(table=spec.table, replace_where=pred))
        w = storage.Written.from_commit(storage.commit_info(self.spark, path))
        rep.written, rep.copied = w.written, w.copied
        self.report.tables[spec.table] = w.version

    def _allocations(
        self, spec: Source, inp: RawInput, rep: SourceReport, records: DataFrame
    ) -> None:
        """Key checks (duplicates, sums) and the accepted months in one aggregation, then one
        job checks, counts (observed) and writes the accepted values."""
        unknown_cols = [
            h for h in alloc_spec.headers(inp) if h.upper() not in self.ctx.known_countries
        ]
        if unknown_cols:
            rep.notes.append(
                f"column(s) not among the known country codes: "
                f"{', '.join(unknown_cols)} (their values: unknown_country)"
            )
        with_ref = records.join(self.fund_ref(), "fund_id", "left")
        row_ok = ~any_rule(alloc_spec.record_rules(inp, self.ctx))
        keyset = alloc_spec.key_checks(with_ref, inp.layout, row_ok).collect()
        # the accepted months: replaced by this batch
        months = sorted(r["alloc_month"] for r in keyset if r["kind"] == "m")
        cols = (
            "fund_id string, alloc_month date, "
            + ("country string, " if inp.layout == "long" else "")
            + "_dup_n long, _alloc_sum double"
        )
        problems = F.broadcast(
            self.spark.createDataFrame([tuple(r)[1:] for r in keyset if r["kind"] == "p"], cols)
        )
        join_keys = ["fund_id", "alloc_month"] + (["country"] if inp.layout == "long" else [])
        df = with_ref.join(problems, join_keys, "left")
        reason, detail = first_reason(spec.rules(inp, self.ctx))
        cls = df.withColumns({"_reason": reason, "_detail": detail, "_stored": alloc_spec.stored()})
        rep.months = months
        seen = Observation("allocations")
        counted = cls.observe(
            seen,
            F.count(F.lit(1)).alias("read"),
            F.sum(F.col("_line_first").cast("long")).alias("lines"),
            F.sum(F.when(F.col("_reason").isNull() & ~F.col("_stored"), 1).otherwise(0)).alias(
                "not_stored"
            ),
            *[
                F.sum(F.when(F.col("_reason") == code, 1).otherwise(0)).alias(code)
                for code in REASONS
            ],
        )
        out = counted.where(F.col("_reason").isNull() & F.col("_stored")).select(
            "alloc_month",
            "report_date",
            F.col("_fund_key").alias("fund_key"),
            "country",
            "allocation_pct",
        )
        path = storage.ensure(self.spark, self.settings, spec.table)
        if months:
            pred = f"alloc_month IN ({', '.join(f'DATE{chr(39)}{m}{chr(39)}' for m in months)})"
            storage.replace_where(
                _silver(out, spec.table),
                path,
                pred,
                self.meta(table=spec.table, replace_where=pred),
            )
            got = seen.get
            w = storage.Written.from_commit(storage.commit_info(self.spark, path))
            rep.written, rep.copied = w.written, w.copied
            self.report.tables[spec.table] = w.version
        else:  # nothing accepted: count without writing
            counts = cls.agg(
                F.count(F.lit(1)).alias("read"),
                F.sum(F.col("_line_first").cast("long")).alias("lines"),
                F.lit(0).alias("not_stored"),
                *[
                    F.sum(F.when(F.col("_reason") == code, 1).otherwise(0)).alias(code)
                    for code in REASONS
                ],
            ).first()
            assert counts is not None  # a global aggregate has one row
            got = counts.asDict()
            rep.written = 0
        rep.read = int(got["read"] or 0)
        rep.lines = int(got["lines"] or 0) if inp.layout == "wide" else None
        rep.not_stored = int(got["not_stored"] or 0)
        rep.set_reasons({c: int(got[c] or 0) for c in REASONS})
        rep.accepted = rep.read - rep.quarantined
        if rep.quarantined:
            self.quarantine.append(
                _quarantine_columns(
                    cls.where(F.col("_reason").isNotNull()),
                    spec.table,
                    spec.content(inp),
                    self.run_id,
                    self.started,
                )
            )
        expected = rep.accepted - rep.not_stored
        if months and rep.written != expected:
            self.report.warnings.append(
                f"{spec.table}: wrote {rep.written} rows, expected {expected}"
            )

    def _flows(
        self, spec: Source, inp: RawInput, rep: SourceReport, raw: DataFrame, parsed: DataFrame
    ) -> None:
        sc = self.dim("share_classes")
        ref = flow_passes.reference_frame(self.spark, sc, dims.local_index(sc))
        checked = flow_passes.with_reference(parsed, ref)
        win = flow_passes.window(raw)
        if win is None:  # no valid flow date: every row is rejected, nothing is replaced
            cls = flow_passes.classify(checked, None, inp, self.ctx)
            got = cls.groupBy("_reason").count().collect()
            rep.read = sum(int(r["count"]) for r in got)
            rep.set_reasons({r["_reason"]: int(r["count"]) for r in got if r["_reason"]})
            rep.accepted = rep.read - rep.quarantined
            rep.written = 0
            if rep.quarantined:
                self.quarantine.append(
                    _quarantine_columns(
                        flow_passes.rejected_rows(cls),
                        spec.table,
                        spec.content(inp),
                        self.run_id,
                        self.started,
                    )
                )
            return
        lo, hi = rep.window = win
        meta = self.meta(window=[str(lo), str(hi)])
        self.say(f"flows: window {lo}..{hi}; fund-day pass")
        fd_path = storage.ensure(self.spark, self.settings, "fund_days")
        day_pass = flow_passes.fund_day_pass(
            self.spark, checked, inp, self.ctx, fd_path, lo, hi, meta
        )
        rep.read = day_pass.rows
        dups: DataFrame | None = None
        dup_files: list[str] = []
        dup_rows = 0
        if day_pass.suspects:
            self.say(
                f"flows: {day_pass.suspects} fund-day(s) may hold duplicate keys; "
                "finding them exactly"
            )
            dups, dup_files, dup_rows = flow_passes.exact_duplicates(self.spark, parsed)
        self.say("flows: write pass")
        scf_path = storage.ensure(self.spark, self.settings, "share_class_flows")
        cls = flow_passes.classify(checked, dups, inp, self.ctx)
        wrote = flow_passes.write_pass(self.spark, cls, scf_path, lo, hi, meta)
        rep.accepted = wrote.accepted
        rep.written, rep.copied = wrote.written.written, wrote.written.copied
        rep.identity_breaks = wrote.identity_breaks
        rep.identity_unchecked = wrote.identity_unchecked
        rep.identity_breaks_ok_if_forex_flipped = wrote.identity_breaks_ok_if_forex_flipped
        self.report.tables["share_class_flows"] = wrote.written.version
        fd_written = day_pass.written
        if day_pass.suspects:  # the fund-days left out: rebuilt from the accepted rows
            fd_written = fd.recompute(self.spark, self.settings, lo, hi, meta)
        self.report.fund_days_written = fd_written.written
        self.report.tables["fund_days"] = fd_written.version
        gaps = [d for d in flow_dates(lo, hi) if d not in set(wrote.dates)]
        if gaps:
            rep.notes.append(
                f"{len(gaps)} flow date(s) inside the window have no accepted row and are now "
                f"empty in the table: {', '.join(map(str, gaps[:10]))}"
                + (" ..." if len(gaps) > 10 else "")
            )
        dirty = sorted(set(day_pass.dirty_files) | set(dup_files))
        if dirty:  # only the files holding rejected rows are read again
            again = inputs.read(self.spark, _narrow(inp, dirty), list(inp.required))
            rechecked = flow_passes.with_reference(spec.parse(again, inp, self.ctx), ref)
            self.quarantine.append(
                _quarantine_columns(
                    flow_passes.rejected_rows(flow_passes.classify(rechecked, dups, inp, self.ctx)),
                    spec.table,
                    spec.content(inp),
                    self.run_id,
                    self.started,
                )
            )
        # the counts by reason: the row-level ones observed, duplicates counted exactly; a row
        # that is a duplicate and breaks a later rule too is counted once, as a duplicate
        rep.set_reasons(day_pass.row_rejects)
        if dup_rows:
            rep.by_reason = {}  # recounted from what the quarantine holds (see _quarantine)
            rep.quarantined = rep.read - rep.accepted

    # --- quarantine and fund_days upkeep ----------------------------------------------------------
    def write_quarantine(self) -> None:
        """One commit: this run's rejected rows replace the earlier quarantine rows of the
        same source files; what was written is counted on the way (per source and reason)."""
        preds = [
            f"(source_table = {storage.sql_string(SPECS[s].table)} AND {inp.scope})"
            for s, inp in self.inputs.items()
        ]
        path = self.settings.table_path("quarantine")
        if not self.quarantine:
            if not storage.exists(self.spark, path):
                self.report.quarantine_written = 0
                return
            old = storage.read(self.spark, path).where(" OR ".join(preds)).limit(1).count()
            if not old:  # nothing to remove, nothing to add: no commit
                self.report.quarantine_written = 0
                return
        path = storage.ensure(self.spark, self.settings, "quarantine")
        q = (
            reduce(DataFrame.unionByName, self.quarantine)
            if self.quarantine
            else self.spark.createDataFrame([], table("quarantine").schema)
        )
        tables = [SPECS[s].table for s in self.inputs]
        seen = Observation("quarantine")
        q = q.observe(
            seen,
            F.count(F.lit(1)).alias("n"),
            *[
                F.sum(
                    F.when((F.col("source_table") == t) & (F.col("reason") == code), 1).otherwise(0)
                ).alias(f"{t}:{code}")
                for t in tables
                for code in REASONS
            ],
        )
        pred = " OR ".join(preds)
        storage.replace_where(
            _silver(q, "quarantine"), path, pred, self.meta(table="quarantine", replace_where=pred)
        )
        got = seen.get
        w = storage.Written.from_commit(storage.commit_info(self.spark, path))
        self.report.quarantine_written = w.written
        self.report.tables["quarantine"] = w.version
        for s, rep in self.report.sources.items():
            held = {code: int(got.get(f"{rep.table}:{code}") or 0) for code in REASONS}
            held = {k: v for k, v in held.items() if v}
            if s == "flows" and not rep.by_reason and rep.quarantined:
                rep.set_reasons(held)
            elif held != rep.by_reason:
                self.report.warnings.append(
                    f"quarantine holds {held} for {s}, expected {rep.by_reason}"
                )
        if w.written != self.report.quarantined:
            self.report.warnings.append(
                f"quarantine: wrote {w.written} rows, expected {self.report.quarantined}"
            )

    def refresh_fund_days(self) -> None:
        """Share classes changed type or fund: rebuild fund_days from share_class_flows over
        the range from the first to the last date they report (the new investor types count;
        the rows keep their stored fund_key, so a move to another fund changes nothing here)."""
        if not self.refresh_dates:
            return
        lo, hi = min(self.refresh_dates), max(self.refresh_dates)
        self.say(f"share classes changed: fund_days rebuilt for {lo}..{hi}")
        w = fd.recompute(
            self.spark,
            self.settings,
            lo,
            hi,
            self.meta(reason="share classes changed", window=[str(lo), str(hi)]),
        )
        self.report.tables["fund_days"] = w.version


def _narrow(inp: RawInput, files: list[str]) -> RawInput:
    keep = set(files)
    out = RawInput(**{**inp.__dict__})
    out.files = [f for f in inp.files if f in keep]
    return out


def ingest_paths(
    spark: SparkSession,
    settings: Settings,
    directory: str | None = None,
    flows: str | None = None,
    share_classes: str | None = None,
    funds: str | None = None,
    allocations: str | None = None,
    external_series: str | None = None,
    *,
    run_id: str | None = None,
    tolerance: IdentityTolerance = IdentityTolerance(),
    known_countries: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Validate the raw files into the silver tables; returns the report (see describe())."""
    t0 = time.time()
    say = progress or (lambda _m: None)
    given = {
        "funds": funds,
        "share_classes": share_classes,
        "allocations": allocations,
        "flows": flows,
        "external_series": external_series,
    }
    paths = inputs.resolve(
        directory, given, spark, {s: SPECS[s].candidates for s in DIRECTORY_SOURCES}
    )
    # every input located and its columns checked before any table is created or changed
    probed = {
        s: inputs.probe(spark, s, paths[s], SPECS[s].required_for) for s in ORDER if s in paths
    }
    ctx = Context(tuple(known_countries or load_countries().published_order), tolerance)
    run = Run(spark, settings, probed, ctx, run_id or uuid.uuid4().hex, say)
    with JobCounter(spark, f"ingest-{run.run_id}") as jobs:
        current = None
        try:
            for s in ORDER:
                if s in probed:
                    current = s
                    say(f"{s}: {paths[s]}")
                    run.run_source(s)
            current = None
            run.write_quarantine()
            run.refresh_fund_days()
        except InputError:
            raise
        except Exception as exc:
            msg = str(exc)
            if current and any(
                k in msg
                for k in (
                    "FAILED_READ_FILE",
                    "CANNOT_READ",
                    "does not conform",
                    "FileNotFound",
                    "not a Parquet file",
                    "footer",
                )
            ):
                raise InputError(
                    f"{current}: {paths.get(current)}: unreadable: {inputs._short(exc)}"
                ) from exc
            raise
        run.report.spark_jobs = jobs.jobs
    for rep in run.report.sources.values():
        if not rep.reconciled:
            run.report.warnings.append(
                f"{rep.source}: read {rep.read} != accepted "
                f"{rep.accepted} + quarantined {rep.quarantined}"
            )
    run.report.seconds = time.time() - t0
    return run.report
