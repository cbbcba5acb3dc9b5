"""The cost model of a full country-flows recompute, fitted on the scales measured:

    T(n, cores) = T_fixed(n) + W(n) / cores,   T_fixed(n) = a + b n,   W(n) = w n

with n the silver fund-days the run reads. Inputs per scale (run_bench.py --scale-out or
--scale-out-only; medians): the full recompute in a new process at local[1] and at local[2],
and the profiled cold run at local[2] (its serial part S: interpreter, session start and the
time no Spark job ran). a, b and w are one least-squares fit over every (scale, cores) point.
On this 2-core machine b also holds what the second core cannot win back (local[1] already
keeps more than one core busy: the JVM reads and serialises while a Python worker computes),
so two projections to the full universe (FULL_SHARE_CLASS_ROWS share-class rows, turned into
fund-days with the share-class rows per fund-day of the largest scale measured) on 8, 32 and
128 cores bound it: the fit as it stands, and the reading where only a, the cost of a run with
no work (a cold run of the tiny universe; S, its driver-side part, is flat across the scales),
stays serial and the rest of the one-core time divides by the cores.

    python bench/cost_model.py [--data bench-data]    # writes docs/benchmarks.md's block

Reads DATA/SCALE-scaleout.json or DATA/SCALE-figures.json for tiny, small, medium and large; a
scale with neither is left out and named.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCALES = ("tiny", "small", "medium", "large")
FULL_SHARE_CLASS_ROWS = 0.75e9  # the whole fund universe: ~0.75 B share-class rows, 19 years
CORES = (8, 32, 128)


def load_scale(data: Path, scale: str) -> dict | None:
    """The scale's runs from both files (a full benchmark and a --scale-out-only run add up:
    medians over all of them); the profile, serial part and CPU from the newest file."""
    figs = [
        json.loads((data / name).read_text())
        for name in (f"{scale}-figures.json", f"{scale}-scaleout.json")
        if (data / name).exists()
    ]
    figs = [f for f in figs if "scale_local[1]" in f["runs"] and f["notes"].get("fund_days")]
    if not figs:
        return None
    runs = {
        c: [r for f in figs for r in f["runs"].get(f"scale_local[{c}]", [])] for c in ("1", "2")
    }
    cpu = {
        c: [x for f in figs for x in f["notes"].get(f"cpu_scale_local[{c}]", [])]
        for c in ("1", "2")
    }
    last = figs[-1]["notes"]
    prof = last.get("profile_local2") or {}
    man = next((f["notes"]["manifest"] for f in figs if f["notes"].get("manifest")), {})
    return {
        "scale": scale,
        "fund_days": int(last["fund_days"]),
        "flow_rows": man.get("flow_rows"),
        "t1": statistics.median(s for s, _ in runs["1"]),
        "t2": statistics.median(s for s, _ in runs["2"]),
        "n_runs": (len(runs["1"]), len(runs["2"])),
        # cores kept busy on average (machine CPU seconds / wall seconds), where measured
        "cores_busy": {
            c: statistics.median(x / s for x, (s, _) in zip(cpu[c], runs[c][-len(cpu[c]) :]))
            for c in ("1", "2")
            if cpu[c]
        },
        "serial_s": prof.get("serial_s"),
        "serial_share": prof["serial_s"] / prof["total_s"] if prof else None,
        "load": last.get("ended", ""),
    }


def fit(points: list[dict]) -> tuple[float, float, float]:
    """(a, b, w) of T = a + b n + w n / cores over every scale's local[1] and local[2] run."""
    rows, ys = [], []
    for p in points:
        for cores, t in ((1, p["t1"]), (2, p["t2"])):
            rows.append([1.0, p["fund_days"], p["fund_days"] / cores])
            ys.append(t)
    (a, b, w), *_ = np.linalg.lstsq(np.array(rows), np.array(ys), rcond=None)
    return float(a), float(b), float(w)


def render(points: list[dict], missing: list[str]) -> str:
    lines = [
        f"Fitted {dt.date.today()} from {', '.join(p['scale'] for p in points)}"
        + (f" ({', '.join(missing)} not measured)" if missing else "")
        + ".",
        "",
        "| scale | fund-days | local[1] s | local[2] s | runs | speed-up | cores busy, local[1] / "
        "local[2] | profiled local[2]: serial s (share) | load at the end |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in points:
        serial = (
            f"{p['serial_s']:.1f} ({100 * p['serial_share']:.0f} %)"
            if p["serial_share"] is not None
            else ""
        )
        busy = " / ".join(f"{p['cores_busy'][c]:.2f}" for c in ("1", "2") if c in p["cores_busy"])
        lines.append(
            f"| {p['scale']} | {p['fund_days']:,} | {p['t1']:.1f} | {p['t2']:.1f} | "
            f"{p['n_runs'][0]} + {p['n_runs'][1]} | {p['t1'] / p['t2']:.2f} | {busy} | {serial} | "
            f"{p['load']} |"
        )
    if len(points) < 3:
        return "\n".join([*lines, "", "(fewer than three scales: no fit)"]) + "\n"
    a, b, w = fit(points)
    largest = max(points, key=lambda p: p["fund_days"])
    rows_per_fd = largest["flow_rows"] / largest["fund_days"]
    n = FULL_SHARE_CLASS_ROWS / rows_per_fd
    one_core = a + (b + w) * n
    lines += [
        "",
        f"Fit over the {2 * len(points)} points (scale x cores, medians; n in millions of "
        f"fund-days): T_fixed = {a:.1f} s + {b * 1e6:.3f} s x n, W = {w * 1e6:.3f} core-s x n.",
        "",
        f"Full universe: {FULL_SHARE_CLASS_ROWS / 1e9:.2f} B share-class rows / {rows_per_fd:.2f} "
        f"rows per fund-day (as at {largest['scale']}) = {n / 1e6:.0f} M fund-days; one core "
        f"{one_core:.0f} s. The fit: T_fixed {a + b * n:.0f} s, W {w * n:.0f} core-s. Only "
        f"the cost of a run without work serial: {a:.1f} s, the other {one_core - a:.0f} "
        "core-s divided by the cores.",
        "",
        "| cores | the fit: T s (its serial share) | only the no-work cost serial: T s (share) |",
        "| ---: | ---: | ---: |",
    ]
    for c in CORES:
        t_fit, t_free = a + b * n + w * n / c, a + (one_core - a) / c
        lines.append(
            f"| {c} | {t_fit:.0f} ({100 * (a + b * n) / t_fit:.0f} %) | "
            f"{t_free:.0f} ({100 * a / t_free:.0f} %) |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=str(ROOT / "bench-data"))
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    points, missing = [], []
    for scale in SCALES:
        p = load_scale(Path(args.data), scale)
        (points.append(p) if p else missing.append(scale))
    text = render(points, missing)
    print(text)
    if not args.no_docs:
        path = ROOT / "docs" / "benchmarks.md"
        doc = path.read_text()
        begin, end = "<!-- costmodel -->", "<!-- /costmodel -->"
        block = f"{begin}\n{text}\n{end}"
        if begin in doc:
            doc = re.sub(
                re.escape(begin) + ".*?" + re.escape(end), lambda _m: block, doc, flags=re.S
            )
        else:
            doc = doc.rstrip() + "\n\n" + block + "\n"
        path.write_text(doc)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
