"""The backtest as a Python API (what the CLI and the demo call).

    from flowmosaic.backtest import api
    result = api.run(flows_wide, returns_wide, params, out_dir, meta)
    api.record_run(spark, settings, result)          # optional: append to backtest_runs

run() computes the backtest and the factor analytics, and when out_dir is given writes
bins.csv, returns.csv, summary.csv, calendar_years.csv, ic.csv (+ ic_summary.csv,
quantile_means.csv, subperiods.csv) and report.html.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pandas as pd

from flowmosaic import storage
from flowmosaic.backtest import factor as factor_mod
from flowmosaic.backtest.engine import BacktestParams, BacktestResult, run_backtest
from flowmosaic.backtest.report import write_report
from flowmosaic.backtest.signal import SignalFrames
from flowmosaic.tables import table

OUTPUT_FILES = (
    "bins.csv",
    "returns.csv",
    "summary.csv",
    "calendar_years.csv",
    "ic.csv",
    "ic_summary.csv",
    "quantile_means.csv",
    "subperiods.csv",
    "report.html",
)


def _yyyymmdd(index: pd.DatetimeIndex) -> pd.Index:
    return pd.Index(index.strftime("%Y%m%d"), name="date")


def write_outputs(
    result: BacktestResult,
    fac: factor_mod.FactorResult,
    out_dir: str | Path,
    meta: dict | None = None,
) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = result.params.horizons[0]
    paths = {}

    bins = result.bins[first].copy()
    bins.index = _yyyymmdd(bins.index)
    bins.astype("Int64").to_csv(out / "bins.csv")
    rets = result.bin_returns[first].copy()
    rets.index = _yyyymmdd(rets.index)
    rets.to_csv(out / "returns.csv", float_format="%.10g")
    result.summary.to_csv(out / "summary.csv", index=False, float_format="%.10g")
    result.calendar_years.to_csv(out / "calendar_years.csv", index=False, float_format="%.10g")
    ic = fac.ic.copy()
    ic.index = _yyyymmdd(ic.index)
    ic.columns = [f"h{h}" for h in ic.columns]
    ic.to_csv(out / "ic.csv", float_format="%.10g")
    fac.ic_summary.to_csv(out / "ic_summary.csv", index=False, float_format="%.10g")
    fac.quantile_means.to_csv(out / "quantile_means.csv", index=False, float_format="%.10g")
    fac.period_summary.to_csv(out / "subperiods.csv", index=False, float_format="%.10g")
    for name in OUTPUT_FILES[:-1]:
        paths[name] = out / name
    paths["report.html"] = write_report(result, fac, out / "report.html", meta)
    return paths


def run(
    flows_wide: pd.DataFrame,
    returns_wide: pd.DataFrame,
    params: BacktestParams | dict | None = None,
    out_dir: str | Path | None = None,
    meta: dict | None = None,
    *,
    membership: pd.DataFrame | None = None,
    periods: str | list | None = None,
    quiet: bool = True,
    signal_input: SignalFrames | None = None,
) -> BacktestResult:
    """Backtest + factor analytics (+ files and report.html when out_dir is given).

    flows_wide: daily flow % (index flow dates, ISO2 columns); returns_wide: market series.
    params: BacktestParams or a dict of its fields (defaults: the published ones).
    meta: free-form provenance shown in the report and recorded in backtest_runs, e.g.
      {"source": "...", "source_version": 3, "returns": "yields.csv"}.
    membership: optional frame country, from, to. periods: '2007-2014,2015-2022' or a list
      of factor.Period (default: two halves of the sample). signal_input: a country signal
    (SignalFrames) in place of flows_wide (which may then be None).
    The result's extras hold 'factor' (FactorResult), 'meta', 'run_id', 'run_at', 'paths'.
    """
    t0 = time.time()
    say = (lambda *_: None) if quiet else (lambda msg: print(f"[backtest] {msg}", flush=True))
    p = BacktestParams.coerce(params)
    result = run_backtest(
        flows_wide, returns_wide, p, membership=membership, signal_input=signal_input
    )
    say(
        f"backtest: {len(result.signal)} trade dates, {len(p.horizons)} horizons "
        f"({time.time() - t0:.1f}s)"
    )
    per = factor_mod.parse_periods(periods) if isinstance(periods, str) else periods
    t1 = time.time()
    fac = factor_mod.analyse(result, per)
    t2 = time.time()
    say(f"factor analytics ({t2 - t0:.1f}s)")
    run_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    meta = dict(meta or {})
    meta.setdefault("run_id", uuid.uuid4().hex[:16])
    meta.setdefault("run_at", run_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    result.extras.update(
        factor=fac,
        meta=meta,
        run_id=meta["run_id"],
        run_at=run_at,
        timings={"backtest": t1 - t0, "factor": t2 - t1},
    )
    if out_dir is not None:
        paths = write_outputs(result, fac, out_dir, meta)
        result.extras["paths"] = paths
        result.extras["timings"]["outputs"] = time.time() - t2
        say(f"wrote {len(paths)} files to {out_dir} ({time.time() - t0:.1f}s)")
        say(f"report: {paths['report.html']}")
    return result


def run_rows(result: BacktestResult, source: str, source_version: int | None) -> list[tuple]:
    """The backtest_runs rows of a result: one per summary row."""
    meta = result.extras.get("meta", {})
    params = {
        **result.params.to_dict(),
        **{k: v for k, v in meta.items() if k not in ("run_id", "run_at")},
    }
    run_id = result.extras.get("run_id") or uuid.uuid4().hex[:16]
    run_at = result.extras.get("run_at") or dt.datetime.now(dt.UTC)
    run_at = run_at.astimezone(dt.UTC).replace(tzinfo=None)
    pjson = json.dumps(params, sort_keys=True, default=str)
    rows = []
    for r in result.summary.itertuples(index=False):
        v = float(r.value)
        rows.append(
            (
                run_id,
                run_at,
                source,
                None if source_version is None else int(source_version),
                pjson,
                int(r.horizon),
                str(r.statistic),
                str(r.column),
                v if v == v else None,
            )
        )
    return rows


def record_run(
    spark,
    settings,
    result: BacktestResult,
    source: str | None = None,
    source_version: int | None = None,
) -> str:
    """Append the run (one row per summary row) to the backtest_runs Delta table; -> run id.

    source / source_version default to the result's meta ('source', 'source_version').
    """
    meta = result.extras.get("meta", {})
    source = source or str(meta.get("source") or "in-memory")
    if source_version is None:
        source_version = meta.get("source_version")
    path = storage.ensure(spark, settings, "backtest_runs")
    rows = run_rows(result, source, source_version)
    df = spark.createDataFrame(rows, schema=table("backtest_runs").schema)
    run_id = rows[0][0] if rows else ""
    storage.append(
        df,
        path,
        metadata={
            "operation": "backtest",
            "run_id": run_id,
            "source": source,
            "source_version": source_version,
        },
    )
    return run_id
