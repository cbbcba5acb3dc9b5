"""Benchmark: flowmosaic against a single-node DuckDB reference, measured in the same run.

    make bench SCALE=small|medium        (or: python bench/run_bench.py --scale small)

Times (medians of --reps runs): ingest; country-flows full recompute of the two standard
universes; a one-day incremental update of the newest flow date in a NEW process (JVM start
included, as the nightly job runs); strategy-file export; the G10 and 52-country backtests.
The reference is the same aggregation as DuckDB SQL over the same silver Parquet files; both
results must agree to 1e-9 relative. Peak memory: the resident set of the Spark JVM sampled every
0.2 s, and of the child processes (ru_maxrss). Writes the figures to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
UNIVERSES = ["FloPctCtry", "FloPctCtry-B"]


class RssSampler(threading.Thread):
    """Peak resident set of this process's descendants (the Spark JVM), sampled."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, 0, threading.Event()

    def _descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parts = stat.read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(parts[1]), []).append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        out, todo = [], [os.getpid()]
        while todo:
            pid = todo.pop()
            kids = children.get(pid, [])
            out += kids
            todo += kids
        return out

    def run(self):
        while not self._halt.is_set():
            total = 0
            for pid in self._descendants():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()


def timed(fn, reps: int, label: str) -> list[float]:
    times = []
    for i in range(reps):
        t0 = time.time()
        fn()
        times.append(time.time() - t0)
        print(f"  {label} run {i + 1}/{reps}: {times[-1]:.1f}s", flush=True)
    return times


def child_run(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.time() - t0, done.stdout


def machine() -> str:
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), "?")
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    import duckdb
    import pyspark
    return (f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB RAM, "
            f"Python {platform.python_version()}, pyspark {pyspark.__version__}, "
            f"duckdb {duckdb.__version__}, Java 17")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="small", choices=["tiny", "small", "medium"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=str(ROOT / "bench-data"), help="where universes are kept")
    ap.add_argument("--ingest-reps", type=int, default=None, help="default: 1 at medium, else reps")
    ap.add_argument("--reuse-warehouse", action="store_true",
                    help="keep the warehouse of an earlier run and skip timing ingest")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable

    from flowmosaic import country_flows, export, ingest
    from flowmosaic.backtest import api as bt
    from flowmosaic.backtest.io import read_market_file
    from flowmosaic.config import load_countries, load_settings
    from flowmosaic.session import get_spark

    flowmosaic = str(Path(sys.executable).parent / "flowmosaic")
    raw = Path(args.data) / f"{args.scale}-seed{args.seed}"
    wh = Path(args.data) / f"{args.scale}-warehouse"
    out = Path(args.data) / f"{args.scale}-out"
    results: dict[str, list[float]] = {}
    notes: dict[str, object] = {"machine": machine(), "scale": args.scale}

    if not (raw / "manifest.json").exists():
        print(f"== generating {args.scale} universe -> {raw}", flush=True)
        secs, _ = child_run([flowmosaic, "generate", "--scale", args.scale, "--seed",
                             str(args.seed), "--out", str(raw)])
        notes["generate_seconds"] = round(secs, 1)
    manifest = json.loads((raw / "manifest.json").read_text())
    notes["manifest"] = {k: manifest[k] for k in
                         ("start", "end", "n_flow_dates", "n_funds", "n_cross_border",
                          "n_share_classes", "flow_rows", "allocation_rows", "fmt")
                         if k in manifest}
    if not args.reuse_warehouse:
        shutil.rmtree(wh, ignore_errors=True)
    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(wh))
    sampler = RssSampler()
    sampler.start()
    spark = get_spark(settings, app_name="flowmosaic-bench",
                      extra_conf={"spark.ui.showConsoleProgress": "false"})
    notes["driver_memory"] = spark.conf.get("spark.driver.memory", "1g")
    quiet = lambda _m: None  # noqa: E731

    print("== ingest", flush=True)
    ingest_reps = args.ingest_reps or (1 if args.scale == "medium" else args.reps)
    if args.reuse_warehouse:
        print("  skipped: --reuse-warehouse", flush=True)
    else:
        results["ingest"] = timed(
            lambda: ingest.ingest_paths(spark, settings, directory=str(raw)), ingest_reps, "ingest")
    print("== country-flows, full recompute of", ", ".join(UNIVERSES), flush=True)
    results["country_flows_full"] = timed(
        lambda: country_flows.run(spark, settings, UNIVERSES, progress=quiet), args.reps,
        "country-flows")
    # where the time goes: the same plans into a no-op sink (no Delta write), and the
    # share-class scan + fund-day aggregation alone
    src, _ = country_flows.read_sources(spark, settings)
    from flowmosaic import flows as fl
    from flowmosaic.universes import select_universes
    unis = select_universes(UNIVERSES)
    lo, hi = (src["share_class_flows"].selectExpr("min(flow_date)", "max(flow_date)").first())

    def noop(df):
        df.write.format("noop").mode("overwrite").save()
    results["profile_scan_fund_day_agg"] = timed(
        lambda: noop(fl.fund_days(src["share_class_flows"])), 1, "scan + fund-day aggregation")
    batches = country_flows.batches_for(src["fund_allocations"], lo, hi)
    results["profile_full_chain_no_write"] = timed(
        lambda: [noop(country_flows.batch_frame(src, unis, b_lo, b_hi)) for b_lo, b_hi in batches],
        1, f"full chain in {len(batches)} batches, no write")

    print("== one-day incremental update (new process, JVM start included)", flush=True)
    inc = []
    for i in range(args.reps):
        secs, _ = child_run([flowmosaic, "country-flows", "--universe", ",".join(UNIVERSES),
                             "--start", str(hi), "--end", str(hi), "--warehouse", str(wh)])
        inc.append(secs)
        print(f"  incremental run {i + 1}/{args.reps}: {secs:.1f}s", flush=True)
    results["incremental_one_day"] = inc
    notes["incremental_date"] = str(hi)

    print("== export", flush=True)
    results["export"] = timed(lambda: [export.export(spark, settings, u, out) for u in UNIVERSES],
                              args.reps, "export")

    print("== backtests", flush=True)
    g10 = load_countries().groups["G10"]
    bond, _ = export.country_matrix(spark, settings, "FloPctCtry-B", g10)
    eq, _ = export.country_matrix(spark, settings, "FloPctCtry")
    yields = read_market_file(raw / "market" / "yields_10y.csv")
    rets = read_market_file(raw / "market" / "returns_daily.csv")
    results["backtest_g10"] = timed(lambda: bt.run(bond, yields, {"spreads": True},
                                                   out / "bt-g10"), args.reps, "G10 backtest")
    results["backtest_52"] = timed(lambda: bt.run(eq, rets, {"returns_kind": "pct"},
                                                  out / "bt-52"), args.reps, "52-country backtest")
    spark_peak = sampler.peak
    sampler.stop()

    print("== reference: DuckDB SQL over the same Parquet files", flush=True)
    ref_out = Path(args.data) / f"{args.scale}-duckdb.parquet"
    ref = []
    for i in range(args.reps):
        _, stdout = child_run([sys.executable, str(ROOT / "bench" / "duckdb_reference.py"),
                               str(wh), str(ref_out)])
        info = json.loads(stdout.strip().splitlines()[-1])
        ref.append(info["seconds"])
        print(f"  duckdb run {i + 1}/{args.reps}: {info['seconds']:.1f}s ({info['rows']} rows, "
              f"{info['threads']} threads)", flush=True)
    results["reference_duckdb"] = ref
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    print("== equality check", flush=True)
    import pandas as pd
    from deltalake import DeltaTable
    got = DeltaTable(settings.table_path("country_flows")).to_pandas(
        columns=["universe", "flow_date", "country", "flow_pct"])
    got = got[got.universe.isin(UNIVERSES)]
    want = pd.read_parquet(ref_out, columns=["universe", "flow_date", "country", "flow_pct"])
    for f in (got, want):
        f["flow_date"] = pd.to_datetime(f["flow_date"])
    m = got.merge(want, on=["universe", "flow_date", "country"], how="outer",
                  suffixes=("_spark", "_duckdb"), indicator=True)
    unmatched = int((m._merge != "both").sum())
    both = m[m._merge == "both"]
    rel = ((both.flow_pct_spark - both.flow_pct_duckdb).abs()
           / both.flow_pct_duckdb.abs().clip(lower=1e-300)).fillna(0.0)
    notes["equality"] = {"rows": int(len(both)), "unmatched_rows": unmatched,
                         "max_rel_diff": float(rel.max()),
                         "pass": bool(unmatched == 0 and rel.max() <= 1e-9)}
    print(f"  {notes['equality']}", flush=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = med["country_flows_full"] / med["reference_duckdb"]
    notes.update(spark_peak_rss_gib=round(spark_peak / 2**30, 2),
                 children_peak_rss_gib=round(child_peak / 2**30, 2),
                 ratio_country_flows_vs_duckdb=round(ratio, 2))
    table = render(args.scale, results, med, notes)
    print("\n" + table)
    if not args.no_docs:
        update_docs(args.scale, table)
    spark.stop()
    return 0 if notes["equality"]["pass"] else 1


def render(scale, results, med, notes) -> str:
    rows = [
        ("ingest (raw files -> silver Delta, validated)", "ingest"),
        ("country-flows, full recompute, 2 universes", "country_flows_full"),
        ("  profile: share-class scan + fund-day aggregation (no write)", "profile_scan_fund_day_agg"),
        ("  profile: whole chain into a no-op sink (no Delta write)", "profile_full_chain_no_write"),
        ("one-day incremental update, new JVM (wall)", "incremental_one_day"),
        ("strategy-file export, 2 universes", "export"),
        ("backtest G10 rates (spreads), report included", "backtest_g10"),
        ("backtest 52 countries (returns), report included", "backtest_52"),
        ("reference: DuckDB SQL country aggregation", "reference_duckdb"),
    ]
    lines = [f"### Scale `{scale}` ({dt.date.today()})", "",
             f"Machine: {notes['machine']}. Spark driver memory: {notes['driver_memory']}.",
             f"Data: {json.dumps(notes['manifest'])}.", "",
             "| step | median s | runs (s) |", "| --- | ---: | --- |"]
    for label, key in rows:
        if key not in results:
            lines.append(f"| {label} | not measured in this run | |")
            continue
        lines.append(f"| {label} | {med[key]:.2f} | {', '.join(f'{t:.2f}' for t in results[key])} |")
    eq = notes["equality"]
    lines += ["",
              f"- **Ratio country-flows / DuckDB reference: {notes['ratio_country_flows_vs_duckdb']:.2f}** "
              f"(goal: 1.0 or less).",
              f"- One-day incremental update, JVM start included: {med['incremental_one_day']:.1f} s "
              f"(goal: under 30 s), date {notes['incremental_date']}.",
              f"- Peak resident memory: Spark JVM + Python workers {notes['spark_peak_rss_gib']} GiB; "
              f"largest child process (incremental job or DuckDB) {notes['children_peak_rss_gib']} GiB.",
              f"- Equality Spark vs DuckDB: {eq['rows']:,} (universe, date, country) rows, "
              f"{eq['unmatched_rows']} unmatched, max relative difference of flow_pct "
              f"{eq['max_rel_diff']:.2e}: {'PASS' if eq['pass'] else 'FAIL'} (tolerance 1e-9).", ""]
    if "generate_seconds" in notes:
        lines.insert(4, f"Generating the universe took {notes['generate_seconds']} s.")
    return "\n".join(lines)


def update_docs(scale: str, table: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    begin, end = f"<!-- bench:{scale} -->", f"<!-- /bench:{scale} -->"
    block = f"{begin}\n{table}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    print(f"updated {path}")


if __name__ == "__main__":
    raise SystemExit(main())
