"""Benchmark: flowmosaic against a single-node DuckDB reference, measured in the same run.

    make bench SCALE=small|medium        (or: python bench/run_bench.py --scale medium)

Figures (medians of --reps runs; load average noted with each):
- ingest of the raw files (silver tables + quarantine, validated) vs the DuckDB ingest
  reference (same files, same row checks, accepted rows and rejects written as Parquet);
  the Spark jobs an ingest launches; identical accepted / quarantined counts per source;
- country-flows full recompute of the two standard universes, both engines (matrix, join), vs
  DuckDB aggregating the same countries from its accepted share-class rows; equality of every
  (universe, date, country) row with the tolerance of tests/support/tolerance.py;
- end to end raw -> gold for both (ingest + full recompute);
- the nightly one-day update (`flowmosaic nightly` re-ingesting the last flow date and
  recomputing its country rows): cold (new process, JVM start included) and warm (on a
  running `flowmosaic serve`);
- the tiny run, cold (`flowmosaic ingest` then `flowmosaic country-flows` in new processes);
- export and both backtests; peak memory; spark.driver.memory.
- peak driver memory (bench/profile_run.py's jvm_memory) of the ingest and of a full
  recompute: the heap's peak use and the JVM's peak resident set.
--scale-out adds the full recompute at local[1] and local[2] (new processes), a profiled cold
recompute at local[2] (bench/profile_run.py: its serial part, session start and the time no
Spark job ran, as a share of its wall time) and the standalone cluster of two 1-core workers
(spark-submit; --no-cluster leaves it out). --scale-out-only measures those alone (ingesting
the universe first when its warehouse is not there): the inputs of bench/cost_model.py, which
fits T = T_fixed + W / cores over the scales. At medium and large the join engine is left out
unless --engines names it (its broadcast of the weights is 2.2 GiB at medium). Figures go to
docs/benchmarks.md between the markers of the scale. No timed assertion anywhere: the run fails
only when an equality check fails.
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
sys.path.insert(0, str(ROOT))
UNIVERSES = ["FloPctCtry", "FloPctCtry-B"]
BIN = Path(sys.executable).parent
FLOWMOSAIC = str(BIN / "flowmosaic")


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


class RssSampler(threading.Thread):
    """Peak resident set of this process's descendants (the Spark JVM, Python workers)."""

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
            kids = children.get(todo.pop(), [])
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


class Figures:
    """Timings by key, each run with the load average when it ended."""

    def __init__(self):
        self.runs: dict[str, list[tuple[float, str]]] = {}
        self.notes: dict[str, object] = {}

    def add(self, key: str, seconds: float) -> None:
        self.runs.setdefault(key, []).append((seconds, load()))
        print(f"  {key}: {seconds:.1f}s ({load()})", flush=True)

    def timed(self, key: str, fn, reps: int):
        out = None
        for _ in range(reps):
            t0 = time.time()
            out = fn()
            self.add(key, time.time() - t0)
        return out

    def median(self, key: str) -> float | None:
        return statistics.median(s for s, _ in self.runs[key]) if key in self.runs else None


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat: every state but
    idle and iowait), so that a difference over a run says how many cores it kept busy."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def child(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.time() - t0, done.stdout


def machine() -> str:
    mem = next(
        (
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        ),
        "?",
    )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    import duckdb
    import pyspark

    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, pyspark {pyspark.__version__}, "
        f"duckdb {duckdb.__version__}"
    )


def one_day(raw: Path, day: dt.date, out: Path) -> Path:
    """The raw flows of one date (what a vendor's nightly file holds), as the input's format."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    shutil.rmtree(out, ignore_errors=True)
    (out / "flows").mkdir(parents=True)
    parquet = any((raw / "flows").glob("*.parquet"))
    if parquet:
        t = ds.dataset(raw / "flows", format="parquet").to_table(
            filter=pc.field("ReportDate") == day
        )
        import pyarrow.parquet as pq

        pq.write_table(t, out / "flows" / "part-0.parquet")
    else:
        header, rows = None, []
        for part in sorted((raw / "flows").glob("*.csv")):
            lines = part.read_text().splitlines()
            header = header or lines[0]
            rows += [ln for ln in lines[1:] if ln.startswith(str(day))]
        (out / "flows" / "part-0.csv").write_text("\n".join([header, *rows]) + "\n")
    return out


def duckdb_step(mode: str, a: Path, b: Path) -> dict:
    _, stdout = child(
        [sys.executable, str(ROOT / "bench" / "duckdb_reference.py"), mode, str(a), str(b)]
    )
    return json.loads(stdout.strip().splitlines()[-1])


def equality(settings, ref_out: Path) -> dict:
    """Every (universe, date, country) of country_flows against DuckDB's, with the tolerance
    scaled by the terms summed (tests/support/tolerance.py)."""
    import pandas as pd
    from deltalake import DeltaTable

    from tests.support import tolerance as tol

    got = DeltaTable(settings.table_path("country_flows")).to_pandas(
        columns=[
            "universe",
            "flow_date",
            "country",
            "flow_usd",
            "assets_start_usd",
            "flow_pct",
            "fund_count",
        ]
    )
    got = got[got.universe.isin(UNIVERSES)]
    want = pd.read_parquet(ref_out)
    for f in (got, want):
        f["flow_date"] = pd.to_datetime(f["flow_date"])
    m = got.merge(
        want,
        on=["universe", "flow_date", "country"],
        how="outer",
        suffixes=("_spark", "_duckdb"),
        indicator=True,
    )
    unmatched = int((m._merge != "both").sum())
    both = m[m._merge == "both"]
    worst = tol.worst_excess(both, spark_suffix="_spark", ref_suffix="_duckdb")
    counts_equal = bool((both.fund_count_spark == both.fund_count_duckdb).all())
    return {
        "rows": int(len(both)),
        "unmatched_rows": unmatched,
        "worst_scaled_difference": worst,
        "fund_counts_equal": counts_equal,
        "pass": bool(unmatched == 0 and worst <= 1.0 and counts_equal),
    }


def ingest_counts_equal(report, duck: dict) -> dict:
    names = {"funds": "funds", "share_classes": "sc", "allocations": "alloc", "flows": "flows"}
    out = {}
    for source, key in names.items():
        s = report.sources[source]
        d = duck["counts"][key]
        out[source] = {
            "spark": [s.read, s.accepted],
            "duckdb": [d["read"], d["accepted"]],
            "equal": [s.read, s.accepted] == [d["read"], d["accepted"]],
        }
    return out


def serve(settings_args: list[str], port: int):
    child([FLOWMOSAIC, "serve", "--background", "--port", str(port), *settings_args])
    return f"sc://127.0.0.1:{port}"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=str(ROOT / "bench-data"), help="where universes are kept")
    ap.add_argument("--ingest-reps", type=int, default=None, help="default: 1 at medium, else reps")
    ap.add_argument(
        "--scale-out",
        action="store_true",
        help="also local[1], local[2] and a standalone cluster of two 1-core workers",
    )
    ap.add_argument("--no-cluster", action="store_true", help="scale-out without the cluster")
    ap.add_argument(
        "--scale-out-only", action="store_true", help="only the scale-out runs (cost model inputs)"
    )
    ap.add_argument(
        "--engines",
        default=None,
        help="country-flows engines (default matrix,join; at medium and large: matrix)",
    )
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated steps to leave out: nightly, tiny, backtests",
    )
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the scale's block of docs/benchmarks.md from DATA/SCALE-figures.json",
    )
    args = ap.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    if args.render_only:
        saved = json.loads((Path(args.data) / f"{args.scale}-figures.json").read_text())
        fig = Figures()
        fig.runs, fig.notes = saved["runs"], saved["notes"]
        update_docs(args.scale, render(fig))
        return 0

    from bench.profile_run import jvm_memory
    from flowmosaic import country_flows
    from flowmosaic.backtest import api as bt
    from flowmosaic.backtest.io import load_flows_from_table, read_market_file
    from flowmosaic.config import load_countries, load_settings
    from flowmosaic.export.strategy_files import export_universe
    from flowmosaic.ingest import ingest_paths
    from flowmosaic.maintain import maintain
    from flowmosaic.spark.session import get_spark

    fig = Figures()
    raw = Path(args.data) / f"{args.scale}-seed{args.seed}"
    wh = Path(args.data) / f"{args.scale}-warehouse"
    out = Path(args.data) / f"{args.scale}-out"
    duck = Path(args.data) / f"{args.scale}-duckdb"
    fig.notes.update(machine=machine(), scale=args.scale, started=load())
    if not (raw / "manifest.json").exists():
        print(f"== generating {args.scale} universe -> {raw}", flush=True)
        secs, _ = child(
            [
                FLOWMOSAIC,
                "generate",
                "--scale",
                args.scale,
                "--seed",
                str(args.seed),
                "--out",
                str(raw),
            ]
        )
        fig.notes["generate_seconds"] = round(secs, 1)
    manifest = json.loads((raw / "manifest.json").read_text())
    fig.notes["manifest"] = {
        k: manifest[k]
        for k in (
            "start",
            "end",
            "n_flow_dates",
            "n_funds",
            "n_cross_border",
            "n_share_classes",
            "flow_rows",
            "allocation_rows",
            "n_destinations",
            "fmt",
        )
        if k in manifest
    }
    big = args.scale in ("medium", "large")
    reps, ingest_reps = args.reps, args.ingest_reps or (1 if big else args.reps)
    # the join engine broadcasts every weight of the window: 2.2 GiB at medium, where it ran out
    # of the 4 g driver's heap (docs/benchmarks.md); it runs at medium and large when asked
    engines = (args.engines or ("matrix" if big else "matrix,join")).split(",")
    skip = set(filter(None, args.skip.split(",")))
    if args.scale_out_only:
        return scale_out_only(fig, raw, wh, args)

    print("== DuckDB references (child processes)", flush=True)
    duck_ingest = None
    for _ in range(ingest_reps):
        shutil.rmtree(duck, ignore_errors=True)
        duck_ingest = duckdb_step("ingest", raw, duck)
        fig.add("duckdb_ingest", duck_ingest["seconds"])
    ref_out = Path(args.data) / f"{args.scale}-duckdb-countries.parquet"
    for _ in range(reps):
        info = duckdb_step("aggregate", duck, ref_out)
        fig.add("duckdb_aggregate", info["seconds"])

    shutil.rmtree(wh, ignore_errors=True)
    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(wh))
    sampler = RssSampler()
    sampler.start()
    spark = get_spark(settings, app_name="flowmosaic-bench")
    fig.notes["driver_memory"] = spark.conf.get("spark.driver.memory", "1g")

    print("== flowmosaic ingest", flush=True)
    report = None
    for i in range(ingest_reps):
        if i:  # every repetition starts from an empty warehouse
            spark.stop()
            shutil.rmtree(wh, ignore_errors=True)
            spark = get_spark(settings, app_name="flowmosaic-bench")
        jvm_memory(spark, reset=True)
        t0 = time.time()
        report = ingest_paths(spark, settings, directory=str(raw))
        fig.add("ingest", time.time() - t0)
        fig.notes["driver_memory_ingest"] = jvm_memory(spark)
    fig.notes["ingest_spark_jobs"] = report.spark_jobs
    fig.notes["fund_days"] = fund_days(settings)
    fig.notes["ingest_files"] = data_files(settings)
    print("== upkeep right after the fresh ingest (flowmosaic maintain)", flush=True)
    t0 = time.time()
    upkeep = maintain(spark, settings, progress=None)
    fig.add("upkeep_after_ingest", time.time() - t0)
    fig.notes["upkeep_rewritten"] = {
        t.name: int(t.optimize_metrics.get("numFilesRemoved", 0)) for t in upkeep.tables
    }
    fig.notes["ingest_counts"] = ingest_counts_equal(report, duck_ingest)

    quiet = lambda _m: None  # noqa: E731
    for engine in engines:
        print(f"== country-flows full recompute, {engine} engine", flush=True)
        jvm_memory(spark, reset=True)
        run = fig.timed(
            f"country_flows_{engine}",
            lambda e=engine: country_flows.run(
                spark, settings, UNIVERSES, engine=e, progress=quiet
            ),
            reps if engine == "matrix" else max(1, reps // 2),
        )
        fig.notes[f"country_flows_{engine}_jobs"] = run.spark_jobs
        fig.notes[f"driver_memory_country_flows_{engine}"] = jvm_memory(spark)
        fig.notes[f"equality_{engine}"] = equality(settings, ref_out)
        print(f"  equality: {fig.notes[f'equality_{engine}']}", flush=True)
    hi = run.end

    if "backtests" not in skip:
        print("== export and backtests", flush=True)
        fig.timed(
            "export", lambda: [export_universe(spark, settings, u, out) for u in UNIVERSES], reps
        )
        g10 = load_countries().groups["G10"]
        bond, _ = load_flows_from_table(spark, settings, "country_flows:FloPctCtry-B", g10)
        eq, _ = load_flows_from_table(spark, settings, "country_flows:FloPctCtry")
        yields = read_market_file(raw / "market" / "yields_10y.csv")
        rets = read_market_file(raw / "market" / "returns_daily.csv")
        fig.timed(
            "backtest_g10", lambda: bt.run(bond, yields, {"spreads": True}, out / "bt-g10"), reps
        )
        fig.timed(
            "backtest_52", lambda: bt.run(eq, rets, {"returns_kind": "pct"}, out / "bt-52"), reps
        )
    spark.stop()
    fig.notes["spark_peak_rss_gib"] = round(sampler.peak / 2**30, 2)
    sampler.stop()

    if "nightly" not in skip:
        print(
            "== nightly one-day update (the last flow date, re-ingested and recomputed)", flush=True
        )
        day_dir = one_day(raw, hi, Path(args.data) / f"{args.scale}-day")
        common = ["--warehouse", str(wh)]
        nightly = [FLOWMOSAIC, "nightly", "--date", str(hi), "--input", str(day_dir), *common]
        for _ in range(reps):
            fig.add("nightly_cold", child(nightly)[0])
        port = 15000 + os.getpid() % 2000
        remote = serve(common, port)
        try:
            child([*nightly, "--remote", remote])  # the server's first run warms it
            for _ in range(reps):
                fig.add("nightly_warm", child([*nightly, "--remote", remote])[0])
        finally:
            subprocess.run(
                [FLOWMOSAIC, "serve", "--stop", "--port", str(port), *common],
                capture_output=True,
                cwd=ROOT,
            )
        fig.notes["nightly_date"] = str(hi)

    if "tiny" not in skip:
        print("== tiny run, cold: ingest then country-flows in new processes", flush=True)
        tiny = Path(args.data) / "tiny-seed7"
        if not (tiny / "manifest.json").exists():
            child([FLOWMOSAIC, "generate", "--scale", "tiny", "--seed", "7", "--out", str(tiny)])
        for _ in range(reps):
            twh = Path(args.data) / "tiny-warehouse"
            shutil.rmtree(twh, ignore_errors=True)
            a, _ = child([FLOWMOSAIC, "ingest", "--input", str(tiny), "--warehouse", str(twh)])
            b, _ = child(
                [
                    FLOWMOSAIC,
                    "country-flows",
                    "--universe",
                    ",".join(UNIVERSES),
                    "--warehouse",
                    str(twh),
                ]
            )
            fig.add("tiny_ingest", a)
            fig.add("tiny_country_flows", b)
            fig.add("tiny_total", a + b)

    if args.scale_out:
        try:
            scale_out(fig, wh, cluster=not args.no_cluster)
        except Exception as exc:  # noqa: BLE001 - the figures measured so far are still written
            fig.notes["scale_out_error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  scale-out failed: {fig.notes['scale_out_error']}", flush=True)
    fig.notes["children_peak_rss_gib"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 2**30, 2
    )
    fig.notes["ended"] = load()
    table = render(fig)
    print("\n" + table)
    (Path(args.data) / f"{args.scale}-figures.json").write_text(
        json.dumps({"runs": fig.runs, "notes": fig.notes}, indent=1, default=str)
    )
    if not args.no_docs:
        update_docs(args.scale, table)
    ok = all(fig.notes[f"equality_{e}"]["pass"] for e in engines) and all(
        c["equal"] for c in fig.notes["ingest_counts"].values()
    )
    return 0 if ok else 1


def scale_out(fig: Figures, wh: Path, cluster: bool = True) -> None:
    """The full recompute at local[1], local[2] (new processes), profiled at local[2]
    (profile_run.py: serial part, peak driver memory) and, with `cluster`, on a standalone
    cluster of two 1-core workers (spark-submit of jobs/country_flows.py)."""
    args = ["--universe", ",".join(UNIVERSES), "--warehouse", str(wh)]
    for master in ("local[1]", "local[2]"):
        conf = wh.parent / f"bench-{master[6]}.yaml"
        conf.write_text(
            (ROOT / "conf" / "local.yaml")
            .read_text()
            .replace("master: local[2]", f"master: {master}")
        )
        cpu0 = machine_cpu_seconds()
        secs, _ = child([FLOWMOSAIC, "country-flows", "--conf", str(conf), *args])
        fig.add(f"scale_{master}", secs)
        # the machine's busy CPU seconds over the run (nothing else runs): cores actually used
        fig.notes.setdefault(f"cpu_scale_{master}", []).append(machine_cpu_seconds() - cpu0)
    _, stdout = child(
        [
            sys.executable,
            str(ROOT / "bench" / "profile_run.py"),
            "--country-flows-only",
            "--warehouse",
            str(wh),
            "--json",
        ]
    )
    prof = json.loads(stdout.strip().splitlines()[-1])
    fig.notes["profile_local2"] = prof
    fig.add("scale_profiled_local[2]", prof["total_s"])
    if not cluster:
        return
    from tests.e2e import standalone
    from tests.e2e.standalone import build_py_files, standalone_cluster, submit

    standalone.JVM_OPTIONS = ""  # the JVM's defaults, as for the local runs
    work = wh.parent / "cluster"
    work.mkdir(parents=True, exist_ok=True)
    py_files = build_py_files(ROOT, work / "flowmosaic.zip")
    with standalone_cluster(work, worker_cores=1, workers=2) as (master, _ui):
        t0 = time.time()
        submit(
            ROOT,
            master,
            ROOT / "jobs" / "country_flows.py",
            args,
            py_files,
            executor_cores=1,
            cores_max=2,
        )
        fig.add("scale_standalone_2x1", time.time() - t0)


def data_files(settings) -> dict[str, int]:
    """Data files of each silver table's current version (Delta log, no JVM)."""
    from deltalake import DeltaTable

    out = {}
    for name in ("share_class_flows", "fund_days", "fund_allocations"):
        out[name] = len(DeltaTable(settings.table_path(name)).file_uris())
    return out


def fund_days(settings) -> int:
    """Rows of silver fund_days (from the Delta log's file statistics): the work's size."""
    from deltalake import DeltaTable

    actions = DeltaTable(settings.table_path("fund_days")).get_add_actions(flatten=True)
    return int(sum(actions.column("num_records").to_pylist()))


def scale_out_only(fig: Figures, raw: Path, wh: Path, args) -> int:
    """The scale-out runs alone on the scale's warehouse (ingested first, in a new process,
    when it is not there): bench/cost_model.py's inputs, in SCALE-scaleout.json."""
    from deltalake import DeltaTable

    from flowmosaic.config import load_settings

    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(wh))
    if not DeltaTable.is_deltatable(settings.table_path("fund_days")):
        print(f"== ingest {raw} -> {wh}", flush=True)
        shutil.rmtree(wh, ignore_errors=True)
        secs, _ = child([FLOWMOSAIC, "ingest", "--input", str(raw), "--warehouse", str(wh)])
        fig.add("ingest_cli", secs)
    fig.notes["fund_days"] = fund_days(settings)
    for _ in range(args.reps):
        scale_out(fig, wh, cluster=False)
    fig.notes["ended"] = load()
    out = Path(args.data) / f"{args.scale}-scaleout.json"
    out.write_text(json.dumps({"runs": fig.runs, "notes": fig.notes}, indent=1, default=str))
    print(f"wrote {out}", flush=True)
    return 0


ROWS = [
    ("ingest (raw -> silver + fund_days + quarantine)", "ingest"),
    ("DuckDB ingest reference (raw -> accepted + rejects)", "duckdb_ingest"),
    ("upkeep right after the fresh ingest (maintain: OPTIMIZE, VACUUM)", "upkeep_after_ingest"),
    ("country-flows full recompute, matrix engine", "country_flows_matrix"),
    ("country-flows full recompute, join engine", "country_flows_join"),
    ("DuckDB aggregation from share-class rows", "duckdb_aggregate"),
    ("nightly one-day update, cold (new JVM)", "nightly_cold"),
    ("nightly one-day update, warm (Connect server)", "nightly_warm"),
    ("tiny run cold: ingest", "tiny_ingest"),
    ("tiny run cold: country-flows", "tiny_country_flows"),
    ("tiny run cold: total", "tiny_total"),
    ("strategy-file export, 2 universes", "export"),
    ("backtest G10 rates (spreads), report included", "backtest_g10"),
    ("backtest 52 countries (returns), report included", "backtest_52"),
    ("scale-out: full recompute at local[1] (new process)", "scale_local[1]"),
    ("scale-out: full recompute at local[2] (new process)", "scale_local[2]"),
    ("scale-out: full recompute at local[2], profiled (new process)", "scale_profiled_local[2]"),
    ("scale-out: standalone cluster, 2 workers x 1 core", "scale_standalone_2x1"),
]


def _ratio(fig: Figures, a: str, b: str | tuple[str, ...]) -> float | None:
    top = fig.median(a) if isinstance(a, str) else sum(fig.median(k) for k in a)
    bot = fig.median(b) if isinstance(b, str) else sum(fig.median(k) for k in b)
    return None if top is None or not bot else top / bot


def _mem(m: dict | None) -> str:
    return f"{m['heap_peak_gib']} / {m['rss_peak_gib']}" if m else "not measured"


def render(fig: Figures) -> str:
    n = fig.notes
    lines = [
        f"### Scale `{n['scale']}` ({dt.date.today()})",
        "",
        f"Machine: {n['machine']}. Spark driver memory: {n['driver_memory']}. "
        f"Load average at the start: {n['started']}; at the end: {n['ended']}.",
        f"Data: {json.dumps(n['manifest'])}.",
        "",
        "| step | median s | runs (s, load average when each ended) |",
        "| --- | ---: | --- |",
    ]
    for label, key in ROWS:
        if key in fig.runs:
            runs = "; ".join(f"{s:.1f} ({ld})" for s, ld in fig.runs[key])
            lines.append(f"| {label} | {fig.median(key):.2f} | {runs} |")
    e2e = _ratio(fig, ("ingest", "country_flows_matrix"), ("duckdb_ingest", "duckdb_aggregate"))
    goals = [
        ("ingest / DuckDB ingest reference", _ratio(fig, "ingest", "duckdb_ingest"), "<= 3.0"),
        (
            "country-flows full recompute (matrix) / DuckDB aggregation",
            _ratio(fig, "country_flows_matrix", "duckdb_aggregate"),
            "<= 1.0",
        ),
        (
            "country-flows full recompute (join) / DuckDB aggregation",
            _ratio(fig, "country_flows_join", "duckdb_aggregate"),
            "(the other design)",
        ),
        ("end to end raw -> gold / DuckDB end to end", e2e, "<= 2.0"),
    ]
    lines += ["", "| figure | measured | goal |", "| --- | ---: | --- |"]
    lines += [f"| {label} | {v:.2f} | {goal} |" for label, v, goal in goals if v is not None]
    for key, label, goal in (
        ("nightly_warm", "nightly one-day update, warm", "<= 10 s"),
        ("nightly_cold", "nightly one-day update, cold", "<= 25 s"),
        ("tiny_total", "tiny run, cold (ingest + country-flows)", "<= 30 s"),
    ):
        if key in fig.runs:
            lines.append(f"| {label} | {fig.median(key):.1f} s | {goal} |")
    lines.append(f"| spark.driver.memory | {n['driver_memory']} | <= 4g |")
    if "scale_local[1]" in fig.runs:
        one, two = fig.median("scale_local[1]"), fig.median("scale_local[2]")
        lines.append(f"| speed-up local[1] -> local[2] | {one / two:.2f} | (2 cores) |")
        if "scale_standalone_2x1" in fig.runs:
            lines.append(
                f"| speed-up local[1] -> standalone 2 x 1 core | "
                f"{one / fig.median('scale_standalone_2x1'):.2f} | |"
            )
    prof = n.get("profile_local2")
    if prof:
        lines.append(
            f"| serial share of a cold local[2] recompute | "
            f"{100 * prof['serial_s'] / prof['total_s']:.0f} % | <= 20 % |"
        )
    if "upkeep_rewritten" in n:
        lines.append(
            f"| upkeep right after a fresh ingest: files rewritten | "
            f"{sum(n['upkeep_rewritten'].values())} | 0 |"
        )
    lines += [
        "",
        f"- Files after the fresh ingest: {n.get('ingest_files')}; upkeep rewrote "
        f"{n.get('upkeep_rewritten')}.",
        f"- Work: {n.get('fund_days', 0):,} fund-days (silver fund_days rows); allocations over "
        f"{n['manifest'].get('n_destinations', 52)} destinations.",
        "- Peak driver memory (GiB; the heap pools' peak use summed, an upper bound as the pools "
        "peak at different times / the JVM's peak resident set, VmHWM): ingest "
        + _mem(n.get("driver_memory_ingest"))
        + "; country-flows full recompute "
        + _mem(n.get("driver_memory_country_flows_matrix"))
        + (
            f"; cold profiled recompute at local[2] {_mem(prof['memory']['country_flows'])}"
            if prof
            else ""
        )
        + ".",
        f"- Spark jobs: ingest {n.get('ingest_spark_jobs')}, country-flows "
        f"{n.get('country_flows_matrix_jobs')} (matrix)"
        + (
            f", {n['country_flows_join_jobs']} (join)."
            if "country_flows_join_jobs" in n
            else "; the join engine not run."
        ),
        "- Ingest counts, Spark vs DuckDB (read, accepted): "
        + "; ".join(
            f"{s} {c['spark']} vs {c['duckdb']} {'equal' if c['equal'] else 'DIFFERENT'}"
            for s, c in n["ingest_counts"].items()
        )
        + ".",
        f"- Peak resident memory: Spark JVM + Python workers {n['spark_peak_rss_gib']} GiB; "
        f"largest child process {n['children_peak_rss_gib']} GiB.",
    ]
    if "nightly_date" in n:
        lines.append(f"- Nightly date: {n['nightly_date']}.")
    for master in ("local[1]", "local[2]"):
        cpu, key = n.get(f"cpu_scale_{master}"), f"scale_{master}"
        if cpu and key in fig.runs:
            cores = [c / s for c, (s, _) in zip(cpu, fig.runs[key])]
            lines.append(
                f"- Full recompute at {master}: the machine busy "
                + ", ".join(f"{c:.2f}" for c in cores)
                + " cores on average over the run (CPU seconds / wall seconds)."
            )
    if prof:
        lines.append(
            f"- Profiled cold recompute at local[2]: {prof['total_s']:.1f} s = interpreter and "
            f"imports {prof['imports_s']:.1f} + session start {prof['session_s']:.1f} + "
            f"country-flows {prof['run_s']:.1f} ({prof['run_jobs']} Spark jobs running "
            f"{prof['run_jobs_busy_s']:.1f} s, the driver alone "
            f"{prof['run_s'] - prof['run_jobs_busy_s']:.1f} s); serial {prof['serial_s']:.1f} s."
        )
    for e in ("matrix", "join"):
        if f"equality_{e}" not in n:
            continue
        q = n[f"equality_{e}"]
        lines.append(
            f"- Equality Spark ({e}) vs DuckDB: {q['rows']:,} rows, "
            f"{q['unmatched_rows']} unmatched, fund counts "
            f"{'equal' if q['fund_counts_equal'] else 'DIFFERENT'}, worst difference "
            f"{q['worst_scaled_difference']:.2e} of the tolerance (1e-9 x the terms "
            f"summed): {'PASS' if q['pass'] else 'FAIL'}."
        )
    if "scale_out_error" in n:
        lines.append(f"- Scale-out not measured: {n['scale_out_error']}")
    if "generate_seconds" in n:
        lines.append(f"- Generating the universe took {n['generate_seconds']} s.")
    return "\n".join(lines) + "\n"


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
