"""Benchmark of the notebook API on the tiny universe (80 funds, 2019-2020): what a notebook
waits for once its session is warm.

    .venv/bin/python bench/bench_api.py [--reps 5]

Figures (load average noted with each): the first computation of a new Warehouse (session
start included), then warm recomputes of country flows (both standard universes, the whole
range, and one month), and reads through delta-rs: a gold table, one universe in wide form, a
table listing. The reference in the same run is the same country-flows computation through the
CLI in a new process (what a notebook without the API pays each time). Written to
docs/benchmarks.md between the api markers. Nothing here is asserted: the tests check
correctness, this measures time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flowmosaic as fm  # noqa: E402
from flowmosaic import synth  # noqa: E402
from flowmosaic.spark.session import get_spark  # noqa: E402

UNIVERSES = ["FloPctCtry", "FloPctCtry-B"]
START, END = "<!-- api:start -->", "<!-- api:end -->"


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def timed(fn, reps: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data", default=str(ROOT / "bench-data" / "api"))
    args = ap.parse_args()
    data = Path(args.data)
    raw, wh = data / "raw-tiny", data / "wh"
    shutil.rmtree(wh, ignore_errors=True)
    lines = [f"Measured {dt.date.today()} on {os.cpu_count()} cores; {load()} at the start."]

    t = time.perf_counter()
    api = fm.open(wh)
    if not (raw / "manifest.json").exists():
        synth.generate(get_spark(api.settings), raw, scale="tiny", seed=7)
    api.ingest(raw)
    first = time.perf_counter() - t
    lines.append(f"- new Warehouse: session start + generate/ingest of tiny: {first:.1f} s")

    t = time.perf_counter()
    api.compute_country_flows(UNIVERSES)
    lines.append(
        f"- first country-flows on the session: {time.perf_counter() - t:.1f} s ({load()})"
    )
    med, all_ = timed(lambda: api.compute_country_flows(UNIVERSES), args.reps)
    lines.append(
        f"- **warm country-flows, both universes, 2019-2020: median {med:.2f} s** "
        f"(runs {', '.join(f'{x:.2f}' for x in all_)}; {load()})"
    )
    med, all_ = timed(
        lambda: api.compute_country_flows(UNIVERSES, start="2020-06-01", end="2020-06-30"),
        args.reps,
    )
    lines.append(
        f"- warm country-flows, one month: median {med:.2f} s "
        f"(runs {', '.join(f'{x:.2f}' for x in all_)}; {load()})"
    )
    reader = fm.open(wh)  # a second object: reads only, no session of its own
    for what, fn in (
        (
            "read gold country_flows, one universe (long)",
            lambda: reader.country_flows("FloPctCtry"),
        ),
        (
            "read one universe wide (flow_pct, dates x countries)",
            lambda: reader.country_flows("FloPctCtry", wide="flow_pct"),
        ),
        ("wh.tables() (every table's version, rows, files)", reader.tables),
    ):
        med, all_ = timed(fn, args.reps)
        lines.append(f"- {what}: median {med * 1000:.0f} ms ({load()})")
    assert not reader.spark_started

    cmd = [
        str(Path(sys.executable).parent / "flowmosaic"),
        "country-flows",
        "--universe",
        ",".join(UNIVERSES),
        "--warehouse",
        str(wh),
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    cold = time.perf_counter() - t
    lines.append(
        f"- reference: the same country-flows as a CLI command, new process: {cold:.1f} s "
        f"({load()})"
    )
    api.close()

    text = "\n".join(lines)
    print(text)
    doc = ROOT / "docs" / "benchmarks.md"
    body = doc.read_text()
    if START in body:
        head, rest = body.split(START, 1)
        body = head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        body += f"\n## The notebook API, warm (bench/bench_api.py)\n\n{START}\n{text}\n{END}\n"
    doc.write_text(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
