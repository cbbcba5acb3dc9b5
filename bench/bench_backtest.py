"""Time a full backtest: 52 countries x 19 years of daily flows, all six horizons, report.

    .venv/bin/python bench/bench_backtest.py [--repeat 3] [--years 19] [--countries 52]

Builds seeded synthetic inputs (flowmosaic.backtest.synthetic), then times api.run() with the
default parameters writing every output file and report.html; prints the median seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--years", type=int, default=19)
    ap.add_argument("--countries", type=int, default=52)
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    import matplotlib  # noqa: F401  (imports are not part of the timed run)

    from flowmosaic.backtest import api
    from flowmosaic.backtest.synthetic import make_planted

    flows, levels = make_planted(args.countries, args.years, strength=0.02, seed=args.seed)
    print(
        f"inputs: {flows.shape[0]} flow dates x {flows.shape[1]} countries, "
        f"{levels.shape[0]} return dates ({time.perf_counter() - t0:.1f}s to build)"
    )

    times = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-backtest-") as out:
            t = time.perf_counter()
            result = api.run(flows, levels, None, out, {"source": "bench (synthetic)"})
            times.append(time.perf_counter() - t)
        parts = ", ".join(f"{k} {v:.2f}s" for k, v in result.extras["timings"].items())
        print(
            f"run {i + 1}: {times[-1]:.2f}s ({parts}; TxB h=5 TStat "
            f"{result.value(5, 'TStat', 'TxB'):.2f})"
        )
    print(
        f"full backtest, 6 horizons + report: median {statistics.median(times):.2f}s "
        f"over {args.repeat} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
