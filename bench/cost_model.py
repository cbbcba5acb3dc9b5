"""The cost model of a full country-flows recompute, fitted on the scales measured:

    T(cores) = T_fixed + W / cores

From each scale's full recompute in a new process at local[1] and local[2] (run_bench.py
--scale-out or --scale-out-only, medians): W = 2 (T1 - T2) is the work that divides by the
cores and T_fixed = 2 T2 - T1 what does not (JVM and session start, planning, Delta log reads
and commits, driver-side Python). Both are fitted as straight lines in the work's size, the
silver fund-days the run reads, and projected to the full universe (FULL_SHARE_CLASS_ROWS
share-class rows, turned into fund-days with the share-class rows per fund-day measured at the
largest scale) on 8, 32 and 128 cores.

    python bench/cost_model.py [--data bench-data]    # writes docs/benchmarks.md's block

Reads DATA/SCALE-figures.json (a full run with --scale-out) or DATA/SCALE-scaleout.json for
tiny, small, medium and large; a scale with neither is left out and named.
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


def _median(runs: dict, key: str) -> float | None:
    return statistics.median(s for s, _ in runs[key]) if key in runs else None


def load_scale(data: Path, scale: str) -> dict | None:
    for name in (f"{scale}-scaleout.json", f"{scale}-figures.json"):
        p = data / name
        if not p.exists():
            continue
        fig = json.loads(p.read_text())
        t1 = _median(fig["runs"], "scale_local[1]")
        t2 = _median(fig["runs"], "scale_local[2]")
        if t1 is None or t2 is None or not fig["notes"].get("fund_days"):
            continue
        prof = fig["notes"].get("profile_local2") or {}
        man = fig["notes"].get("manifest") or {}
        return {
            "scale": scale,
            "source": name,
            "fund_days": int(fig["notes"]["fund_days"]),
            "flow_rows": man.get("flow_rows"),
            "t1": t1,
            "t2": t2,
            "w": 2 * (t1 - t2),
            "t_fixed": 2 * t2 - t1,
            "serial_share": prof["serial_s"] / prof["total_s"] if prof else None,
            "load": fig["notes"].get("ended", ""),
        }
    return None


def fit(points: list[dict]) -> dict:
    x = np.array([p["fund_days"] for p in points], dtype=float)
    out = {}
    for key in ("t_fixed", "w"):
        y = np.array([p[key] for p in points], dtype=float)
        slope, intercept = np.polyfit(x, y, 1)
        out[key] = (float(intercept), float(slope))
    return out


def render(points: list[dict], missing: list[str]) -> str:
    lines = [
        f"Fitted {dt.date.today()} from {', '.join(p['scale'] for p in points)}"
        + (f" ({', '.join(missing)} not measured)" if missing else "")
        + ".",
        "",
        "| scale | fund-days | local[1] s | local[2] s | speed-up | W = 2 (T1 - T2) s | "
        "T_fixed = 2 T2 - T1 s | serial share, profiled local[2] | load at the end |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in points:
        share = f"{100 * p['serial_share']:.0f} %" if p["serial_share"] is not None else ""
        lines.append(
            f"| {p['scale']} | {p['fund_days']:,} | {p['t1']:.1f} | {p['t2']:.1f} | "
            f"{p['t1'] / p['t2']:.2f} | {p['w']:.1f} | {p['t_fixed']:.1f} | {share} | "
            f"{p['load']} |"
        )
    if len(points) < 2:
        return "\n".join([*lines, "", "(fewer than two scales: no fit)"]) + "\n"
    f = fit(points)
    (a, b), (c, d) = f["t_fixed"], f["w"]
    largest = max(points, key=lambda p: p["fund_days"])
    rows_per_fd = (largest["flow_rows"] or 0) / largest["fund_days"] or 2.73
    full_fd = FULL_SHARE_CLASS_ROWS / rows_per_fd
    tf_full, w_full = a + b * full_fd, c + d * full_fd
    lines += [
        "",
        "Least-squares lines in the fund-days n: "
        f"T_fixed(n) = {a:.1f} s + {b * 1e6:.3f} s per million fund-days; "
        f"W(n) = {c:.1f} s + {d * 1e6:.3f} core-s per million fund-days.",
        "",
        f"Projection for the full universe ({FULL_SHARE_CLASS_ROWS / 1e9:.2f} B share-class rows "
        f"/ {rows_per_fd:.2f} rows per fund-day at {largest['scale']} = {full_fd / 1e6:.0f} M "
        f"fund-days): T_fixed {tf_full:.0f} s, W {w_full:.0f} core-s.",
        "",
        "| cores | projected full recompute s | of which serial |",
        "| ---: | ---: | ---: |",
    ]
    for n in CORES:
        t = tf_full + w_full / n
        lines.append(f"| {n} | {t:.0f} | {100 * tf_full / t:.0f} % |")
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
