"""`flowmosaic backtest`: the quintile flow-rotation backtest from a table or a strategy file,
or of any country signal (docs/signals.md).

    flowmosaic backtest --flows country_flows:FloPctCtry-B --returns yields.csv --spreads \
        --countries G10 --out out/bt
    flowmosaic backtest --signal country_signals:FloPctCtry:FloTrend --returns idx.csv --out bt

Spark starts only when --flows is a table spec (TABLE:UNIVERSE[@VERSION]) or with --signal;
then the run is also appended to the backtest_runs Delta table. A daily signal is pooled over
the look-back (sum of numerators / sum of denominators; --sum: the sum of its daily values); a
monthly signal's latest value is used from the day it is known (no look-back).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from flowmosaic.backtest import api
from flowmosaic.backtest import io as bio
from flowmosaic.backtest.engine import BacktestParams
from flowmosaic.backtest.factor import parse_periods
from flowmosaic.cli.context import Context
from flowmosaic.config import load_countries
from flowmosaic.errors import InputError
from flowmosaic.signals.names import DAILY, SIGNALS

NAME = "backtest"
DEFAULT_LOOKBACK = {"daily": 20, "weekly": 4}
HELP = "quintile backtest of country flow % against returns"
DESCRIPTION = __doc__


def _horizons(text: str) -> tuple[int, ...]:
    try:
        hs = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--horizons wants comma-separated integers, got {text!r}"
        ) from exc
    if not hs or any(h < 1 for h in hs):
        raise argparse.ArgumentTypeError(f"--horizons must be positive integers, got {text!r}")
    return hs


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--flows",
        help="TABLE:UNIVERSE[@VERSION] (e.g. country_flows:FloPctCtry-B@3) or a "
        "strategy CSV (yyyymmdd date column, then ISO2 columns in %%)",
    )
    src.add_argument(
        "--signal",
        help="TABLE:UNIVERSE:SIGNAL[@VERSION] (e.g. country_signals:FloPctCtry:FloTrend): "
        "a country signal of `flowmosaic signals` instead of flow %%",
    )
    add_backtest_options(p)
    p.add_argument("--membership", help="CSV with columns country,from,to (universe membership)")
    p.add_argument("--out", required=True, help="output directory")


def add_backtest_options(p: argparse.ArgumentParser) -> None:
    """The returns and the backtest's parameters (shared with compare-signals)."""
    p.add_argument(
        "--returns", required=True, help="market CSV: date column (yyyymmdd), then ISO2 columns"
    )
    p.add_argument(
        "--spreads",
        action="store_true",
        help="the returns file holds yields: return = Y(F+h) - Y(F)",
    )
    p.add_argument(
        "--pct-returns",
        action="store_true",
        help="index mode: the returns file holds percent daily returns (default: "
        "index levels). They are compounded into an index on every weekday, "
        "1 January and 25 December included (they are weekdays, not flow "
        "dates): a return dated on one of them counts, a weekday without a "
        "return counts 0%%, a weekend return counts on the next weekday",
    )
    p.add_argument(
        "--lookback",
        type=int,
        default=None,
        help="compounding window in rows: flow dates (default 20), or weeks for a weekly "
        "series (default 4)",
    )
    p.add_argument(
        "--frequency",
        choices=["daily", "weekly"],
        default=None,
        help="the flow rows: daily (the flow calendar) or weekly (week ends); default: "
        "weekly for weekly_country_flows, else daily",
    )
    p.add_argument(
        "--sum",
        action="store_true",
        help="sum the window instead of compounding (a daily signal: sum its values instead "
        "of pooling numerators over denominators)",
    )
    p.add_argument("--lag", type=int, default=0)
    p.add_argument("--delay", type=int, default=2)
    p.add_argument("--bins", type=int, default=5)
    p.add_argument(
        "--trade-day",
        choices=["fri", "none"],
        default="fri",
        help="fri: weekly, Friday labels; none: every flow date",
    )
    p.add_argument(
        "--horizons",
        type=_horizons,
        default=(5, 10, 20, 45, 65, 130),
        help="forward-return horizons in weekdays (default 5,10,20,45,65,130)",
    )
    p.add_argument("--countries", help="a group (G10, DM) or a list AU,CA,... (default: all)")
    p.add_argument("--periods", help="sub-periods for the report, e.g. 2007-2014,2015-2022")


def frequency_of(args: argparse.Namespace) -> str:
    """--frequency, else weekly when --flows reads weekly_country_flows; a monthly series is
    refused (its rows are too few to rank weekly)."""
    flows = getattr(args, "flows", None)
    table = bio.parse_flow_spec(flows).table if flows and bio.is_table_spec(flows) else ""
    if table.rstrip("/").endswith("monthly_country_flows"):
        raise InputError(
            f"--flows {flows}: the backtest runs on daily or weekly series, not monthly ones"
        )
    if args.frequency:
        return str(args.frequency)
    return "weekly" if table.rstrip("/").endswith("weekly_country_flows") else "daily"


def params_from_args(args: argparse.Namespace, signal: str | None = None) -> BacktestParams:
    """The backtest's parameters; signal: the country signal backtested (None: flow %), with
    the look-back it needs (BacktestParams.for_signal; --sum sums a daily signal's values)."""
    frequency = frequency_of(args) if signal is None else "daily"
    lookback = args.lookback if args.lookback is not None else DEFAULT_LOOKBACK[frequency]
    return BacktestParams(
        lookback=lookback,
        frequency=frequency,
        compound=not args.sum,
        lag=args.lag,
        delay=args.delay,
        bins=args.bins,
        trade_day=args.trade_day,
        horizons=tuple(args.horizons),
        spreads=args.spreads,
        returns_kind="pct" if args.pct_returns else "level",
    ).for_signal(signal, pooled=not args.sum)


def run(ctx: Context) -> int:
    args = ctx.args
    t0 = time.time()
    name = None
    if args.signal:
        name = bio.parse_signal_spec(args.signal).signal
        if name not in SIGNALS:
            raise InputError(
                f"--signal {args.signal!r}: unknown signal {name!r}; choose from "
                f"{', '.join(SIGNALS)}"
            )
        if name not in DAILY:
            print(
                f"[backtest] {name} is monthly: its latest value is used from the day it is "
                "known; --lookback and --sum do not apply",
                flush=True,
            )
    params = params_from_args(args, name)
    periods = parse_periods(args.periods)  # fail early, before any data is read
    countries = load_countries().resolve(args.countries) if args.countries else None

    spark = None
    frames = None
    flows = None
    if args.signal or bio.is_table_spec(args.flows):
        print(f"[backtest] starting Spark to read {args.signal or args.flows}", flush=True)
        spark = ctx.spark
        if args.signal:
            frames, meta = bio.load_signal_from_table(spark, ctx.settings, args.signal, countries)
            wide = frames.values
        else:
            flows, meta = bio.load_flows_from_table(spark, ctx.settings, args.flows, countries)
            wide = flows
        print(
            f"[backtest] read {meta['source']} version {meta['source_version']}: "
            f"{len(wide)} flow dates x {wide.shape[1]} countries",
            flush=True,
        )
    else:
        flows = bio.read_strategy_file(args.flows)
        meta = {"source": str(Path(args.flows).resolve()), "source_version": None}
        if countries:
            missing = [c for c in countries if c not in flows.columns]
            present = [c for c in countries if c in flows.columns]
            if not present:
                raise InputError(
                    f"{args.flows}: none of the countries {list(countries)} is a "
                    f"column of the strategy file"
                )
            if missing:
                print(f"[backtest] note: {args.flows} has no column for {missing}", flush=True)
            flows = flows[present]
        print(
            f"[backtest] read {args.flows}: {len(flows)} flow dates x {flows.shape[1]} countries",
            flush=True,
        )

    market = bio.read_market_file(args.returns)
    print(
        f"[backtest] read {args.returns}: {len(market)} dates x {market.shape[1]} countries",
        flush=True,
    )
    membership = bio.read_membership(args.membership) if args.membership else None
    meta.update(
        {
            "returns": str(Path(args.returns).resolve()),
            "membership": str(Path(args.membership).resolve()) if args.membership else None,
            "countries": args.countries or "all",
        }
    )
    result = api.run(
        flows,
        market,
        params,
        args.out,
        meta,
        membership=membership,
        periods=periods or None,
        quiet=False,
        signal_input=frames,
    )
    if spark is not None:
        run_id = api.record_run(spark, ctx.settings, result)
        print(
            f"[backtest] recorded run {run_id} in {ctx.settings.table_path('backtest_runs')}",
            flush=True,
        )
    first = params.horizons[0]
    print(
        f"[backtest] TxB h={first}: AnnMn {result.value(first, 'AnnMn', 'TxB'):.4g}, "
        f"Sharpe {result.value(first, 'Sharpe', 'TxB'):.3g}, "
        f"t-stat {result.value(first, 'TStat', 'TxB'):.3g} ({time.time() - t0:.1f}s)"
    )
    print(f"report: {result.extras['paths']['report.html']}")
    return 0
