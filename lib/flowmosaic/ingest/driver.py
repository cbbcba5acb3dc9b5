"""The source-agnostic ingest driver (docs/ingest.md): locate and check every input's files
before anything is written; then check every source (read, parse, apply the rules, count)
without writing; then the guard (ingest/guard.py): a batch that would empty or shrink what it
replaces, or rejects too many rows, stops the run here with every table as it was; then write
each source in dependency order (funds, share classes, allocations, external series, flows,
weekly and monthly flows);
last, one quarantine commit for every source's rejected rows.

Write modes (Source.write_mode):
- dimension (funds, share classes): merged by vendor id with stable integer keys; the small
  table is rewritten whole, and only when something changed (ingest/dims.py). Never removes
  an id.
- months (allocations): the batch's accepted report months are replaced.
- series (external series): the batch's series are replaced.
- window (flows): the window from the batch's first to last valid flow date is replaced in
  share_class_flows and fund_days (ingest/flows.py).
- periods (weekly and monthly flows): the periods from the batch's first to last valid period
  end are replaced in share_class_flows_weekly / _monthly (ingest/periodic.py).

A source's checks see the earlier sources as this run will leave them (share classes are
checked against the funds merged in memory, flows against the merged share classes); its
write uses the dimensions as written, so that keys given by a concurrent ingest are the keys
used.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

import pandas as pd
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from flowmosaic import storage
from flowmosaic.calendar import flow_dates
from flowmosaic.config import (
    IngestGuard,
    Settings,
    line_label,
    load_countries,
    load_currencies,
)
from flowmosaic.errors import InputError
from flowmosaic.ingest import dims, guard, inputs, periodic
from flowmosaic.ingest import flows as flow_passes
from flowmosaic.ingest import fund_days as fd
from flowmosaic.ingest import reasons as R
from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import REASONS, first_reason, line_fault
from flowmosaic.ingest.report import IngestReport, SourceReport
from flowmosaic.ingest.sources import (
    Context,
    IdentityTolerance,
    Source,
    external_series,
    flows,
    funds,
    periodic_flows,
    share_classes,
)
from flowmosaic.ingest.sources import allocations as alloc_spec
from flowmosaic.spark.session import JobCounter
from flowmosaic.tables import table

JOB = "ingest"
SPECS: dict[str, Source] = {
    s.name: s
    for s in (
        funds.SPEC,
        share_classes.SPEC,
        alloc_spec.SPEC,
        external_series.SPEC,
        flows.SPEC,
        *periodic_flows.SPECS.values(),
    )
}
ORDER = (
    "funds",
    "share_classes",
    "allocations",
    "external_series",
    "flows",
    "weekly_flows",
    "monthly_flows",
)
# share-class attributes fund_days is summed by: a change of one rebuilds fund_days
FUND_DAY_ATTRIBUTES = {"investor_type", "fund_key", "fund_id"}
# the sources an --input DIR is searched for (external series are ingested on their own)
DIRECTORY_SOURCES = (
    "funds",
    "share_classes",
    "allocations",
    "flows",
    "weekly_flows",
    "monthly_flows",
)


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


@dataclass
class Pending:
    """A source checked and not yet written: what the guard sees, and the write."""

    check: guard.Check
    write: Callable[[], None]


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
            if inp.zips or inp.fmt == "csv+parquet":
                rep.notes.append(f"read {inp.describe_files()}")
            if inp.ignored_files:
                rep.notes.append(
                    f"refused {len(inp.ignored_files)} file(s) that are not CSV, Parquet or "
                    f"zip (not read): {', '.join(inp.ignored_files[:5])}"
                    + (" ..." if len(inp.ignored_files) > 5 else "")
                )
            if inp.ignored_columns:
                rep.notes.append(f"ignored column(s): {', '.join(inp.ignored_columns)}")
            if inp.cut:
                rep.notes.append(
                    f"{len(inp.cut)} file(s) do not end with a line break (cut short?): their "
                    f"last line is quarantined as truncated_line: {', '.join(list(inp.cut)[:3])}"
                )
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
        """The dimension table as this run leaves it (its merge included), on the driver."""
        if name not in self._dims:
            path = self.settings.table_path(name)
            if storage.exists(self.spark, path):
                self._dims[name] = self._stored_dim(name)
            else:
                cols = table(name).columns
                self._dims[name] = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        return self._dims[name]

    def _stored_dim(self, name: str, version: int | None = None) -> pd.DataFrame:
        """The dimension table as stored (at `version`, else the latest), on the driver."""
        stored: pd.DataFrame = storage.read(
            self.spark, self.settings.table_path(name), version
        ).toPandas()
        # a table written before a column was added (share classes' currency and hedge
        # flag): the column is unknown for its rows until a delivery says
        return stored.reindex(columns=table(name).columns)

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

    def share_ref(self) -> DataFrame:
        sc = self.dim("share_classes")
        return flow_passes.reference_frame(self.spark, sc, dims.local_index(sc))

    # --- the sources ----------------------------------------------------------------------------
    def check_source(self, name: str) -> Pending:
        """Read, parse and check one source, count what it would write; nothing is written."""
        spec, inp, rep = SPECS[name], self.inputs[name], self.report.sources[name]
        raw = inputs.read(self.spark, inp, self._vendors(spec, inp))
        parsed = spec.parse(raw, inp, self.ctx)
        if spec.write_mode in ("dimension", "series"):
            return self._small(spec, inp, rep, parsed)
        if spec.write_mode == "months":
            return self._allocations(spec, inp, rep, parsed)
        if spec.write_mode == "periods":
            return self._periods(spec, inp, rep, parsed)
        return self._flows(spec, inp, rep, raw, parsed)

    @staticmethod
    def _vendors(spec: Source, inp: RawInput) -> list[str] | None:
        return None if inp.layout == "wide" else list(inp.required)

    def _content(self, spec: Source, inp: RawInput):
        return inputs.row_content(spec.content(inp))

    def _small(self, spec: Source, inp: RawInput, rep: SourceReport, parsed: DataFrame) -> Pending:
        """Small sources (dimensions, external series): checked in one job, the result
        brought to the driver, where it is counted and split; the write comes later."""
        keys = [F.col(k) for k in spec.dup_key]
        valid = reduce(lambda a, b: a & b, [k.isNotNull() for k in keys]) & ~line_fault()
        n = F.count(F.lit(1)).over(Window.partitionBy(*keys, ~valid))
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
            self._content(spec, inp).alias("_content"),
            "_source_file",
        ).toPandas()
        rep.read = len(rows)
        bad = rows[rows["_reason"].notna()]
        ok = rows[rows["_reason"].isna()].drop(
            columns=["_reason", "_detail", "_content", "_source_file"]
        )
        # an optional column the delivery does not have keeps the stored values (dims.merge)
        ok = ok.drop(columns=[c for c in self._absent_optional(spec, inp) if c in ok.columns])
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
        check = guard.Check(
            spec.name, inp.path, "rows", rep.read, rep.quarantined, dict(rep.by_reason)
        )
        if spec.write_mode == "dimension":
            self._merge_in_memory(spec, ok)
            return Pending(check, lambda: self._write_dimension(spec, rep, ok))
        check.drops = self._series_drops(spec, ok)
        return Pending(check, lambda: self._write_series(spec, rep, ok))

    @staticmethod
    def _absent_optional(spec: Source, inp: RawInput) -> list[str]:
        if spec.name != "share_classes":
            return []
        return [s for v, s in share_classes.OPTIONAL.items() if v not in inp.required]

    def _dimension_ids(self, spec: Source, ok: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
        if spec.name == "funds":
            return ok, "fund_id", "fund_key"
        return ok.rename(columns={"_fund_key": "fund_key"}), "share_id", "share_key"

    def _merge_in_memory(self, spec: Source, ok: pd.DataFrame) -> None:
        """The dimension as this run will leave it, for the checks of the sources after it
        (written later: see _write_dimension)."""
        batch, id_col, key_col = self._dimension_ids(spec, ok)
        cols = table(spec.table).columns
        self._dims[spec.table] = dims.merge(
            self.dim(spec.table), batch, id_col, key_col, cols
        ).table

    def _series_drops(self, spec: Source, ok: pd.DataFrame) -> list[guard.Drop]:
        path = self.settings.table_path(spec.table)
        if ok.empty or not storage.exists(self.spark, path):
            return []
        names = sorted(ok["series"].unique())
        got = (
            storage.read(self.spark, path)
            .where(F.col("series").isin(*names))
            .groupBy("series")
            .count()
            .collect()
        )
        before = {r["series"]: int(r["count"]) for r in got}
        after = ok["series"].value_counts().to_dict()
        return guard.drops(before, after, lambda k: f"series {k}")

    def _write_dimension(self, spec: Source, rep: SourceReport, ok: pd.DataFrame) -> None:
        batch, id_col, key_col = self._dimension_ids(spec, ok)
        cols = table(spec.table).columns
        path = storage.ensure(self.spark, self.settings, spec.table)

        def read_merge_write() -> dims.Merged:
            # One unit, retried whole: after another ingest's commit the batch is merged into
            # the table as that ingest left it, so neither run's additions are lost and no key
            # is given twice (retrying only the write would put back the stale merge).
            version = storage.current_version(self.spark, path)
            merged = dims.merge(self._stored_dim(spec.table, version), batch, id_col, key_col, cols)
            if merged.changed:
                if storage.current_version(self.spark, path) != version:
                    raise storage.TableMoved(f"{path} moved on from version {version}")
                df = self.spark.createDataFrame(merged.table, table(spec.table).schema)
                meta = self.meta(table=spec.table, new=len(merged.new), updated=len(merged.updated))
                storage.overwrite(df, path, meta, retry=False, sized=True, evolve=True)
            return merged

        merged = storage.retrying(self.spark, path, read_merge_write, self.meta(table=spec.table))
        # a changed share class (investor type or fund): fund_days is rebuilt on its dates,
        # where a new investor type takes effect (docs/ingest.md, "11. Share classes that
        # change type or fund": a move to another fund does not change past fund-days)
        if spec.name == "share_classes" and self._moved(merged):
            self.refresh_dates = set()
            self._dates_of_share_classes(merged)
        rep.written = merged.changed
        self._dims[spec.table] = merged.table
        self.report.tables[spec.table] = storage.current_version(self.spark, path)

    @staticmethod
    def _moved(merged: dims.Merged) -> list[str]:
        """Share classes whose investor type or fund changed (what fund_days depends on; a new
        currency or hedge flag changes no fund-day)."""
        return [i for i, cols in merged.changes.items() if cols & FUND_DAY_ATTRIBUTES]

    def _dates_of_share_classes(self, merged: dims.Merged) -> None:
        """The flow dates on which share classes that changed type or fund have rows."""
        path = self.settings.table_path("share_class_flows")
        if not storage.exists(self.spark, path):
            return
        t = merged.table
        keys = t.loc[t["share_id"].isin(self._moved(merged)), "share_key"].astype(int).tolist()
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
        storage.replace_where(
            df, path, pred, self.meta(table=spec.table, replace_where=pred), sized=True
        )
        w = storage.Written.from_commit(storage.commit_info(self.spark, path))
        rep.written, rep.copied = w.written, w.copied
        self.report.tables[spec.table] = w.version

    def _allocations(
        self, spec: Source, inp: RawInput, rep: SourceReport, records: DataFrame
    ) -> Pending:
        """One aggregation checks what needs more than one record (duplicates, sums) and
        counts the batch (guard); the write later classifies, counts (observed) and writes
        the accepted values."""
        unknown_cols = [
            h
            for h in alloc_spec.headers(inp)
            if h.upper() not in self.ctx.known_countries
            and line_label(h) not in self.ctx.non_country
        ]
        if unknown_cols:
            rep.notes.append(
                f"column(s) not among the known country codes: "
                f"{', '.join(unknown_cols)} (their values: unknown_country)"
            )
        keyset = alloc_spec.key_checks(
            records.join(self.fund_ref(), "fund_id", "left"), inp, self.ctx
        ).collect()
        summary = {r["alloc_month"]: r["_summary"].asDict() for r in keyset if r["kind"] == "s"}
        problem_rows = [r for r in keyset if r["kind"] == "p"]
        # the accepted months: replaced by this batch
        months = sorted(m for m, c in summary.items() if m is not None and c["accepted"])
        read = sum(c["read"] for c in summary.values())
        accepted = sum(c["accepted"] for c in summary.values())
        reasons = {
            code: sum(c.get(code) or 0 for c in summary.values())
            for code in REASONS
            if any(c.get(code) for c in summary.values())
        }
        check = guard.Check(spec.name, inp.path, "records", read, read - accepted, reasons)
        check.measure = "funds"
        path = self.settings.table_path(spec.table)
        if months and storage.exists(self.spark, path):
            got = (
                storage.read(self.spark, path)
                .where(F.col("alloc_month").isin(*months))
                .groupBy("alloc_month")
                .agg(F.count_distinct("fund_key").alias("funds"))
                .collect()
            )
            before = {r["alloc_month"]: int(r["funds"]) for r in got}
            after = {m: summary[m]["funds"] for m in months}
            check.drops = guard.drops(before, after, lambda m: f"month {m:%Y-%m}")
        rep.months = months
        other = sum(c.get("other_lines") or 0 for c in summary.values())
        return Pending(
            check,
            lambda: self._write_allocations(spec, inp, rep, records, problem_rows, months, other),
        )

    def _write_allocations(
        self,
        spec: Source,
        inp: RawInput,
        rep: SourceReport,
        records: DataFrame,
        problem_rows: list,
        months: list[dt.date],
        other_lines: int = 0,
    ) -> None:
        long = inp.layout == "long"
        with_ref = records.join(self.fund_ref(), "fund_id", "left")
        cols = (
            "fund_id string, alloc_month date, "
            + ("country string, " if long else "")
            + "_dup_n long, _alloc_sum double"
        )
        keys = ["fund_id", "alloc_month"] + (["country"] if long else [])
        problems = F.broadcast(
            self.spark.createDataFrame(
                [tuple(r[k] for k in [*keys, "_dup_n", "_alloc_sum"]) for r in problem_rows], cols
            )
        )
        df = with_ref.join(problems, keys, "left")
        reason, detail = first_reason(spec.rules(inp, self.ctx))
        cls = df.withColumns({"_reason": reason, "_detail": detail, "_stored": alloc_spec.stored()})
        seen = Observation("allocations")
        counted = cls.observe(
            seen,
            F.count(F.lit(1)).alias("read"),
            F.sum(F.col("_line_first").cast("long")).alias("lines"),
            F.sum(F.when(F.col("_reason").isNull() & ~F.col("_stored"), 1).otherwise(0)).alias(
                "not_stored"
            ),
            *[
                F.expr(
                    f"sum(CASE WHEN _reason = {storage.sql_string(code)} THEN 1 ELSE 0 END) AS "
                    f"{storage.sql_name(code)}"
                )
                for code in REASONS
            ],
        )
        accepted = F.col("_reason").isNull() & F.col("_stored")
        out = counted.where(accepted & F.col("line_kind").isNull()).select(
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
                sized=True,
            )
            got = seen.get
            w = storage.Written.from_commit(storage.commit_info(self.spark, path))
            rep.written, rep.copied = w.written, w.copied
            self.report.tables[spec.table] = w.version
            rep.written += self._write_other_lines(cls.where(accepted), pred, other_lines)
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
                    self._content(spec, inp),
                    self.run_id,
                    self.started,
                )
            )
        expected = rep.accepted - rep.not_stored
        if months and rep.written != expected:
            self.report.warnings.append(
                f"{spec.table}: wrote {rep.written} rows, expected {expected}"
            )

    def _periods(
        self, spec: Source, inp: RawInput, rep: SourceReport, parsed: DataFrame
    ) -> Pending:
        """Weekly or monthly flows (ingest/periodic.py): every rule counted per period end
        before the guard; the write replaces the batch's periods."""
        freq = periodic.frequency_of(spec)
        self.say(f"{spec.name}: check pass")
        checked = flow_passes.with_reference(parsed, self.share_ref())
        pc = periodic.check(periodic.classify(checked, spec, inp, self.ctx), freq)
        check = guard.Check(
            spec.name, inp.path, "rows", pc.rows, sum(pc.rejects.values()), dict(pc.rejects)
        )
        if pc.window is not None:
            lo, hi = pc.window
            before = periodic.rows_by_period(
                self.spark, self.settings.table_path(spec.table), lo, hi
            )
            unit = "week ending" if freq == "weekly" else "month ending"
            check.drops = guard.drops(before, pc.accepted_by_period, lambda d: f"{unit} {d}")
        return Pending(check, lambda: self._write_periods(spec, inp, rep, parsed, pc))

    def _write_periods(
        self,
        spec: Source,
        inp: RawInput,
        rep: SourceReport,
        parsed: DataFrame,
        pc: periodic.PeriodCheck,
    ) -> None:
        # the share classes as written (their keys), as for daily flows
        checked = flow_passes.with_reference(parsed, self.share_ref())
        cls = periodic.classify(checked, spec, inp, self.ctx)
        rep.read = pc.rows
        rep.set_reasons(pc.rejects)
        if pc.window is None:
            rep.accepted, rep.written = rep.read - rep.quarantined, 0
        else:
            lo, hi = rep.window = pc.window
            path = storage.ensure(self.spark, self.settings, spec.table)
            meta = self.meta(window=[str(lo), str(hi)])
            wrote = periodic.write(self.spark, cls, spec.table, path, lo, hi, meta)
            rep.accepted = wrote.accepted
            rep.written, rep.copied = wrote.written.written, wrote.written.copied
            rep.identity_breaks = wrote.identity_breaks
            rep.identity_unchecked = wrote.identity_unchecked
            self.report.tables[spec.table] = wrote.written.version
        if rep.quarantined:
            self.quarantine.append(
                _quarantine_columns(
                    flow_passes.rejected_rows(cls),
                    spec.table,
                    self._content(spec, inp),
                    self.run_id,
                    self.started,
                )
            )

    def _write_other_lines(self, accepted: DataFrame, pred: str, expected: int) -> int:
        """The batch's non-country lines replace its months in fund_allocations_other (read
        again only when the check counted some; with none, the months' old lines are removed
        when the table exists). Returns the rows written."""
        name = "fund_allocations_other"
        path = self.settings.table_path(name)
        if not expected and not storage.exists(self.spark, path):
            return 0
        rows = accepted.where(F.col("line_kind").isNotNull()).select(
            "alloc_month",
            "report_date",
            F.col("_fund_key").alias("fund_key"),
            "line_kind",
            F.trim(F.col("_header")).alias("label"),
            "allocation_pct",
        )
        if not expected:
            rows = rows.limit(0)
        path = storage.ensure(self.spark, self.settings, name)
        storage.replace_where(
            _silver(rows, name), path, pred, self.meta(table=name, replace_where=pred), sized=True
        )
        w = storage.Written.from_commit(storage.commit_info(self.spark, path))
        self.report.tables[name] = w.version
        return w.written

    def _flows(
        self, spec: Source, inp: RawInput, rep: SourceReport, raw: DataFrame, parsed: DataFrame
    ) -> Pending:
        """The check pass (one read: row-level rules counted per flow date, ingest/flows.py);
        duplicates found exactly before the guard when the counts suggest many; the window's
        rows per date compared with the table's."""
        self.say("flows: check pass")
        checked = flow_passes.with_reference(parsed, self.share_ref())
        cp = flow_passes.check_pass(checked, inp, self.ctx)
        dups: flow_passes.Duplicates | None = None
        reasons = dict(cp.row_rejects)
        accepted = dict(cp.accepted_by_date)
        if cp.likely_duplicates:
            self.say("flows: many rows share a key; finding the duplicates exactly")
            dups = flow_passes.exact_duplicates(self.spark, parsed)
            reasons[R.DUPLICATE_KEY] = reasons.get(R.DUPLICATE_KEY, 0) + dups.rows
            for d, n in dups.by_date.items():
                accepted[d] = max(0, accepted.get(d, 0) - n)
        rejected = sum(reasons.values())
        check = guard.Check(spec.name, inp.path, "rows", cp.rows, rejected, reasons)
        if cp.window is not None:
            lo, hi = cp.window
            path = self.settings.table_path("share_class_flows")
            before = flow_passes.rows_by_date(self.spark, path, lo, hi)
            check.drops = guard.drops(before, accepted, lambda d: f"flow date {d}")
        return Pending(check, lambda: self._write_flows(spec, inp, rep, parsed, cp, dups))

    def _write_flows(
        self,
        spec: Source,
        inp: RawInput,
        rep: SourceReport,
        parsed: DataFrame,
        cp: flow_passes.CheckPass,
        dups: flow_passes.Duplicates | None,
    ) -> None:
        ref = self.share_ref()  # the share classes as written (their keys)
        checked = flow_passes.with_reference(parsed, ref)
        content = self._content(spec, inp)
        if cp.window is None:  # no valid flow date: every row is rejected, nothing is replaced
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
                        content,
                        self.run_id,
                        self.started,
                    )
                )
            return
        lo, hi = rep.window = cp.window
        meta = self.meta(window=[str(lo), str(hi)])
        self.say(f"flows: window {lo}..{hi}; fund-day pass")
        fd_path = storage.ensure(self.spark, self.settings, "fund_days")
        day_pass = flow_passes.fund_day_pass(
            self.spark, checked, inp, self.ctx, fd_path, lo, hi, meta
        )
        rep.read = day_pass.rows
        if day_pass.suspects and dups is None:
            self.say(
                f"flows: {day_pass.suspects} fund-day(s) may hold duplicate keys; "
                "finding them exactly"
            )
            dups = flow_passes.exact_duplicates(self.spark, parsed)
        self.say("flows: write pass")
        scf_path = storage.ensure(self.spark, self.settings, "share_class_flows")
        cls = flow_passes.classify(checked, dups.frame if dups else None, inp, self.ctx)
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
                f"{len(gaps)} flow date(s) inside the window have no accepted row and are "
                f"empty in the table: {', '.join(map(str, gaps[:10]))}"
                + (" ..." if len(gaps) > 10 else "")
            )
        dirty = sorted(set(day_pass.dirty_files) | set(dups.files if dups else []))
        if dirty:  # only the files holding rejected rows are read again
            again = inputs.read(self.spark, _narrow(inp, dirty), list(inp.required))
            rechecked = flow_passes.with_reference(spec.parse(again, inp, self.ctx), ref)
            self.quarantine.append(
                _quarantine_columns(
                    flow_passes.rejected_rows(
                        flow_passes.classify(rechecked, dups.frame if dups else None, inp, self.ctx)
                    ),
                    spec.table,
                    content,
                    self.run_id,
                    self.started,
                )
            )
        # the counts by reason: the row-level ones observed, duplicates counted exactly; a row
        # that is a duplicate and breaks a later rule too is counted once, as a duplicate
        rep.set_reasons(day_pass.row_rejects)
        if dups is not None and dups.rows:
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
            *[  # SQL text: one py4j call per sum (tables x reasons of them)
                F.expr(
                    f"sum(CASE WHEN source_table = {storage.sql_string(t)} AND reason = "
                    f"{storage.sql_string(code)} THEN 1 ELSE 0 END) AS "
                    f"{storage.sql_name(f'{t}:{code}')}"
                )
                for t in tables
                for code in REASONS
            ],
        )
        pred = " OR ".join(preds)
        storage.replace_where(
            _silver(q, "quarantine"),
            path,
            pred,
            self.meta(table="quarantine", replace_where=pred),
            sized=True,
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
    """The input limited to some of its files (files as source_file shows them)."""
    keep = set(files)
    out = RawInput(**{**inp.__dict__})
    out.files = [f for f in inp.files if inp.shown(f) in keep]
    return out


UNREADABLE = (
    "FAILED_READ_FILE",
    "CANNOT_READ",
    "does not conform",
    "FileNotFound",
    "not a Parquet file",
    "footer",
    "MALFORMED_RECORD",
)


def ingest_paths(
    spark: SparkSession,
    settings: Settings,
    directory: str | None = None,
    flows: str | None = None,
    share_classes: str | None = None,
    funds: str | None = None,
    allocations: str | None = None,
    external_series: str | None = None,
    weekly_flows: str | None = None,
    monthly_flows: str | None = None,
    *,
    run_id: str | None = None,
    tolerance: IdentityTolerance = IdentityTolerance(),
    known_countries: tuple[str, ...] | None = None,
    guard_limits: IngestGuard | None = None,
    force_replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Validate the raw files into the silver tables; returns the report (see describe()).

    Every source is checked before any is written; the guard (ingest/guard.py) then stops a
    batch that would empty or shrink what it replaces, or that rejects too many rows, with a
    GuardError and nothing written. guard_limits default to the settings' `ingest:` section;
    force_replace writes anyway and lists what was removed in the report."""
    t0 = time.time()
    say = progress or (lambda _m: None)
    given = {
        "funds": funds,
        "share_classes": share_classes,
        "allocations": allocations,
        "flows": flows,
        "external_series": external_series,
        "weekly_flows": weekly_flows,
        "monthly_flows": monthly_flows,
    }
    paths = inputs.resolve(
        directory, given, spark, {s: SPECS[s].candidates for s in DIRECTORY_SOURCES}
    )
    # every input located and its files checked before any table is created or changed
    probed: dict[str, RawInput] = {}
    try:
        for s in ORDER:
            if s in paths:
                probed[s] = inputs.probe(spark, s, paths[s], SPECS[s].required_for)
        countries = load_countries()
        ctx = Context(
            tuple(known_countries or countries.destinations),
            tolerance,
            load_currencies(),
            countries.non_country,
        )
        run = Run(spark, settings, probed, ctx, run_id or uuid.uuid4().hex, say)
        with JobCounter(spark, f"ingest-{run.run_id}") as jobs:
            current = None
            try:
                pending: list[Pending] = []
                for s in ORDER:
                    if s in probed:
                        current = s
                        say(f"{s}: checking {paths[s]}")
                        pending.append(run.check_source(s))
                current = None
                removed = guard.evaluate(
                    [p.check for p in pending], guard_limits or settings.ingest, force_replace
                )
                run.report.removed = removed
                for s, p in zip([s for s in ORDER if s in probed], pending):
                    current = s
                    say(f"{s}: writing")
                    p.write()
                current = None
                run.write_quarantine()
                run.refresh_fund_days()
            except InputError:
                raise
            except Exception as exc:
                msg = str(exc)
                if current and any(k in msg for k in UNREADABLE):
                    raise InputError(
                        f"{current}: {paths.get(current)}: unreadable: {inputs._short(exc)}"
                    ) from exc
                raise
            run.report.spark_jobs = jobs.jobs
    finally:
        for inp in probed.values():
            inputs.cleanup(inp.staged)
    for rep in run.report.sources.values():
        if not rep.reconciled:
            run.report.warnings.append(
                f"{rep.source}: read {rep.read} != accepted "
                f"{rep.accepted} + quarantined {rep.quarantined}"
            )
    run.report.seconds = time.time() - t0
    return run.report
