"""Where the time of one cold run goes: ingest then country-flows in one new process, split
into interpreter start and imports, Spark session start (JVM, Delta jars), and for each
command its wall time, the Spark jobs it launched (from the Spark UI's REST API: the time the
jobs ran, the slowest by call site) and what is left for the driver (planning, Delta log reads
and commits, Python). Delta commits are counted per table.

    python bench/profile_run.py --input DIR --warehouse WH [--universe FloPctCtry,FloPctCtry-B]

The warehouse is emptied first. Prints a Markdown table (docs/benchmarks.md quotes it); with
--json, then one JSON line of the same figures (run_bench.py reads it): the serial part of the
run (interpreter start and imports, session start, the time no Spark job ran) and the peak
memory of the driver (jvm_memory).
"""

from __future__ import annotations

import time

T0 = time.time()  # before the heavy imports: their cost is part of a cold run

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import urllib.request  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowmosaic import country_flows, storage  # noqa: E402
from flowmosaic.config import load_settings  # noqa: E402
from flowmosaic.ingest import ingest_paths  # noqa: E402
from flowmosaic.spark.session import get_spark  # noqa: E402
from flowmosaic.tables import TABLES  # noqa: E402


def _ts(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%Z").timestamp()


def ui_jobs(spark) -> list[dict]:
    """Every finished job of this application from the UI's REST API."""
    base = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{base}/api/v1/applications/{app}/jobs") as r:
        return json.load(r)


def ui_stages(spark) -> list[dict]:
    base = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{base}/api/v1/applications/{app}/stages") as r:
        return json.load(r)


def slowest_stages(stages: list[dict], n: int = 8) -> list[str]:
    """The stages that ran longest: tasks, rows read, executor time (CPU in tasks)."""
    done = [st for st in stages if st.get("completionTime") and st.get("submissionTime")]
    done.sort(key=lambda st: _ts(st["submissionTime"]) - _ts(st["completionTime"]))
    lines = ["| stage | wall s | tasks | input rows | executor run s | executor CPU s |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for st in done[:n]:
        wall = _ts(st["completionTime"]) - _ts(st["submissionTime"])
        lines.append(
            f"| {st['stageId']} {st['name'].split(' at ')[-1]} | {wall:.1f} | {st['numTasks']} "
            f"| {st.get('inputRecords', 0):,} | {st.get('executorRunTime', 0) / 1e3:.1f} "
            f"| {st.get('executorCpuTime', 0) / 1e9:.1f} |"
        )
    return lines


def jvm_memory(spark, reset: bool = False) -> dict:
    """The driver JVM's peak memory since its start or the last reset: the heap pools' peak
    use summed (G1's eden, survivor and old generation; in local mode the tasks' memory is in
    this heap too) and the process's peak resident set (VmHWM: heap, off-heap, metaspace,
    code). reset=True starts both peaks again (VmHWM through /proc/PID/clear_refs)."""
    jvm = spark.sparkContext._jvm
    pools = [
        p
        for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
        if str(p.getType()) == "Heap memory"
    ]
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    if reset:
        for p in pools:
            p.resetPeakUsage()
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return {}
    hwm = next(
        int(line.split()[1]) * 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    heap = sum(p.getPeakUsage().getUsed() for p in pools)
    return {"heap_peak_gib": round(heap / 2**30, 2), "rss_peak_gib": round(hwm / 2**30, 2)}


def busy_seconds(jobs: list[dict]) -> float:
    """The time at least one of the jobs was running."""
    spans = sorted((_ts(j["submissionTime"]), _ts(j["completionTime"])) for j in jobs)
    busy, end = 0.0, 0.0
    for a, b in spans:
        busy += max(0.0, b - max(a, end))
        end = max(end, b)
    return busy


def summarize(label: str, wall: float, jobs: list[dict]) -> list[str]:
    spans = [(_ts(j["submissionTime"]), _ts(j["completionTime"])) for j in jobs]
    busy = busy_seconds(jobs)
    by_site: dict[str, list[float]] = defaultdict(list)
    for j, (a, b) in zip(jobs, spans):
        by_site[j["name"].split(" at ")[-1]].append(b - a)
    top = sorted(by_site.items(), key=lambda kv: -sum(kv[1]))[:6]
    lines = [
        f"| {label} | {wall:.1f} | {len(jobs)} jobs, running {busy:.1f} s; driver-only "
        f"{wall - busy:.1f} s |"
    ]
    lines += [f"| &nbsp;&nbsp;jobs at {site} | {sum(t):.1f} | {len(t)} job(s) |" for site, t in top]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", default="", help="the raw files' directory")
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--universe", default="FloPctCtry,FloPctCtry-B")
    ap.add_argument("--engine", default="matrix", choices=["matrix", "join"])
    ap.add_argument(
        "--country-flows-only",
        action="store_true",
        help="keep the warehouse (already ingested) and profile country-flows alone",
    )
    ap.add_argument(
        "--nightly",
        metavar="DATE",
        help="keep the warehouse and profile `flowmosaic nightly --date DATE --input INPUT`",
    )
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    if args.nightly:
        args.country_flows_only = True
    if not args.country_flows_only:
        shutil.rmtree(args.warehouse, ignore_errors=True)
    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=args.warehouse)
    imported = time.time()
    spark = get_spark(settings, app_name="flowmosaic-profile", extra_conf={"spark.ui.port": "4099"})
    started = time.time()
    memory = {}
    if not args.country_flows_only:
        jvm_memory(spark, reset=True)
        ingest_paths(spark, settings, directory=args.input)
        memory["ingest"] = jvm_memory(spark)
    ingested = time.time()
    jvm_memory(spark, reset=True)
    after_ingest = {j["jobId"] for j in ui_jobs(spark)}
    if args.nightly:
        from flowmosaic import nightly

        run = nightly.run(spark, settings, dt.date.fromisoformat(args.nightly), args.input)
        print(run.describe())
    else:
        country_flows.run(
            spark, settings, args.universe, engine=args.engine, progress=lambda _m: None
        )
    done = time.time()
    memory["nightly" if args.nightly else "country_flows"] = jvm_memory(spark)
    jobs = ui_jobs(spark)
    stages = ui_stages(spark)
    commits = {
        name: storage.current_version(spark, settings.table_path(name)) + 1
        for name in TABLES
        if storage.exists(spark, settings.table_path(name))
    }
    spark.stop()
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    lines = [
        f"Cold run on `{args.input}` ({dt.date.today()}, load average at the end {load}):",
        "",
        "| phase | seconds | what |",
        "| --- | ---: | --- |",
        f"| interpreter start and imports (pyspark, pandas, flowmosaic) | {imported - T0:.1f} | |",
        f"| Spark session start (JVM, Delta jars, session) | {started - imported:.1f} | |",
        *summarize("ingest", ingested - started, [j for j in jobs if j["jobId"] in after_ingest]),
        *summarize(
            "nightly" if args.nightly else "country-flows",
            done - ingested,
            [j for j in jobs if j["jobId"] not in after_ingest],
        ),
        f"| total | {done - T0:.1f} | |",
        "",
        "Delta commits per table (versions 0..n): "
        + ", ".join(f"{k} {v}" for k, v in sorted(commits.items()))
        + ".",
        "",
        "Slowest stages of the run:",
        "",
        *slowest_stages(stages),
    ]
    print("\n".join(lines))
    if args.json:
        ingest_jobs = [j for j in jobs if j["jobId"] in after_ingest]
        later = [j for j in jobs if j["jobId"] not in after_ingest]
        print(
            json.dumps(
                {
                    "imports_s": imported - T0,
                    "session_s": started - imported,
                    "ingest_s": ingested - started,
                    "ingest_jobs_busy_s": busy_seconds(ingest_jobs),
                    "run_s": done - ingested,
                    "run_jobs": len(later),
                    "run_jobs_busy_s": busy_seconds(later),
                    "total_s": done - T0,
                    # of a --country-flows-only or --nightly run: what no job ran in parallel
                    "serial_s": started - T0 + done - ingested - busy_seconds(later),
                    "memory": memory,
                    "load": load,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
