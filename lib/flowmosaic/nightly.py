"""The nightly update: one day's raw files in, that day's country rows out, in one run.

    result = nightly.run(spark, settings, dt.date(2020, 3, 31), "incoming/2020-03-31")
    print(result.describe())

Steps: ingest whatever of flows / funds / share_classes / allocations the directory holds
(ingest_paths(directory=...): the day's flows replace that day in share_class_flows and
fund_days), check that the date now has rows (from the ingest report when the batch's flows
are of that date alone, else by a query of fund_days), then country_flows.run over [D, D] for
the universes (and, with mosaic, the investor grain). Each step is timed; the gold commits
replace exactly the day's rows (replaceWhere), so a rerun with the same files gives the same
tables. Works on a local session and over Spark Connect (`--remote`; docs/connect.md).

Only the day is recomputed. When the files change inputs of other dates too (a reclassified
share class rebuilds fund_days over its history, a restated or late allocation month applies
to dates already computed, a fund's attributes move it between universes), the summary says
which dates' country rows are now stale and the command that recomputes them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import country_flows, storage
from flowmosaic.config import Settings
from flowmosaic.country_flows.job import CountryFlowsRun
from flowmosaic.errors import InputError
from flowmosaic.ingest import IngestReport, ingest_paths

DEFAULT_UNIVERSES = ("FloPctCtry", "FloPctCtry-B")


@dataclass
class NightlyRun:
    date: dt.date
    directory: str
    universes: list[str]
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    ingest: IngestReport | None = None
    flows: list[CountryFlowsRun] = field(default_factory=list)
    day_rows: int = 0  # rows on the date: of this batch's flows, else of fund_days
    day_rows_of: str = "share-class flow rows accepted"
    stale: list[str] = field(default_factory=list)  # other dates whose inputs changed

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.steps)

    def describe(self) -> str:
        out = [f"nightly {self.date}: {self.directory} -> {', '.join(self.universes)}"]
        if self.ingest is not None:
            srcs = ", ".join(
                f"{s} {r.accepted:,} accepted"
                + (f" / {r.quarantined:,} quarantined" if r.quarantined else "")
                for s, r in self.ingest.sources.items()
            )
            out.append(f"  ingested      {srcs}")
        out.append(f"  {self.date}    {self.day_rows:,} {self.day_rows_of}")
        for r in self.flows:
            out.append(f"  {r.table:<13} {r.rows_written:,} rows (version {r.table_version})")
        for w in self.ingest.warnings if self.ingest else []:
            out.append(f"  warning: {w}")
        for w in self.stale:
            out.append(f"  stale: {w}")
        out.append(
            "  seconds       "
            + "".join(f"{n} {s:.1f}; " for n, s in self.steps)
            + f"total {self.seconds:.1f}"
        )
        return "\n".join(out)


def _universe_list(universes: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if universes is None:
        return list(DEFAULT_UNIVERSES)
    if isinstance(universes, str):
        universes = universes.split(",")
    names = [u.strip() for u in universes if u.strip()]
    if not names:
        raise InputError("--universe: no universe named")
    return names


def day_rows(spark: SparkSession, settings: Settings, date: dt.date) -> int:
    """fund_days rows on `date` (its month partition only)."""
    path = settings.table_path("fund_days")
    if not storage.exists(spark, path):
        return 0
    return (
        storage.read(spark, path)
        .where(
            (F.col("flow_month") == F.lit(cal.month_start(date)))
            & (F.col("flow_date") == F.lit(date))
        )
        .count()
    )


def _dates(window) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(str(window[0])), dt.date.fromisoformat(str(window[1]))


def _metadata(spark: SparkSession, path: str, version: int) -> dict:
    try:
        return json.loads(storage.commit_info(spark, path, version).get("userMetadata") or "{}")
    except (ValueError, TypeError):
        return {}


def stale_inputs(
    spark: SparkSession,
    settings: Settings,
    date: dt.date,
    report: IngestReport,
    fund_days_before: int,
    universes: list[str],
    mosaic: bool,
) -> list[str]:
    """What the ingest changed besides `date`'s inputs, from its commits: fund_days windows
    (the commits' userMetadata), replaced allocation months (their applicable flow dates up to
    `date`), funds with changed attributes. One line each, with the command to run."""
    out: list[str] = []
    cmds = ["country-flows"] + (["mosaic-flows"] if mosaic else [])
    u = ",".join(universes)

    def recompute(lo: dt.date, hi: dt.date, why: str) -> None:
        run_ = "; ".join(f"flowmosaic {c} --universe {u} --start {lo} --end {hi}" for c in cmds)
        out.append(f"{why}: the country rows of {lo}..{hi} still use the old inputs ({run_})")

    path = settings.table_path("fund_days")
    now = report.tables.get("fund_days")
    for v in range(fund_days_before + 1, (now if now is not None else fund_days_before) + 1):
        meta = _metadata(spark, path, v)
        if meta.get("window"):
            lo, hi = _dates(meta["window"])
            if (lo, hi) != (date, date):
                why = meta.get("reason") or "fund_days rewritten"
                recompute(lo, hi, f"{why} (fund_days version {v})")
    alloc = report.sources.get("allocations")
    for month in alloc.months if alloc else []:
        lo, hi = cal.applicable_window(month)
        hi = min(hi, date - dt.timedelta(days=1))
        if lo <= hi:
            recompute(lo, hi, f"allocation month {month:%Y-%m} replaced")
    funds = report.sources.get("funds")
    if funds and funds.written and report.tables.get("funds") is not None:
        meta = _metadata(spark, settings.table_path("funds"), report.tables["funds"])
        if meta.get("updated"):
            run_ = "; ".join(f"flowmosaic {c} --universe {u}" for c in cmds)
            out.append(
                f"{meta['updated']} fund(s) changed attributes (universe membership, "
                f"domicile): every date's country rows may change ({run_})"
            )
    return out


def run(
    spark: SparkSession,
    settings: Settings,
    date: dt.date,
    directory: str,
    universes: str | list[str] | None = None,
    mosaic: bool = False,
    engine: str = "matrix",
    session_seconds: float | None = None,
    force_replace: bool = False,
    progress: Callable[[str], None] = print,
) -> NightlyRun:
    """Ingest `directory`, check fund_days holds `date`, recompute [date, date].
    session_seconds: the time the caller took to get `spark` (reported as a step)."""
    names = _universe_list(universes)
    result = NightlyRun(date, directory, names)
    if session_seconds is not None:
        result.steps.append(("session", session_seconds))

    t = time.time()
    fd_path = settings.table_path("fund_days")
    fd_before = storage.current_version(spark, fd_path) if storage.exists(spark, fd_path) else -1
    # the ingest's guard stops a broken day before anything is written (exit 2)
    result.ingest = ingest_paths(
        spark, settings, directory=directory, force_replace=force_replace, progress=progress
    )
    result.stale = stale_inputs(spark, settings, date, result.ingest, fd_before, names, mosaic)
    result.steps.append(("ingest", time.time() - t))

    rep = result.ingest.sources.get("flows")
    if rep is not None and rep.window == (date, date) and rep.accepted:
        result.day_rows = rep.accepted  # the batch's valid flow dates are just the date
    else:  # other dates in the batch, or no flows: ask fund_days
        t = time.time()
        result.day_rows, result.day_rows_of = day_rows(spark, settings, date), "fund-day rows"
        result.steps.append(("check", time.time() - t))
    if not result.day_rows:
        held = (
            "holds no flows"
            if rep is None
            else f"holds flows of {rep.window[0]}..{rep.window[1]}"
            if rep.window
            else "holds no accepted flow row"
        )
        raise InputError(
            f"no fund-day rows on {date} after ingesting {directory} (it {held}): "
            "check --date and the day's files"
        )

    grains = [("country", "country-flows")] + ([("investor", "mosaic-flows")] if mosaic else [])
    for grain, step in grains:
        t = time.time()
        result.flows.append(
            country_flows.run(
                spark,
                settings,
                names,
                start=date,
                end=date,
                engine=engine,
                grain=grain,
                progress=progress,
            )
        )
        result.steps.append((step, time.time() - t))
    return result
