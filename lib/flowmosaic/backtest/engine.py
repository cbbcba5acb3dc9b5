"""The reference quintile backtest (docs/methodology.md, "8. The backtest"), pandas and
numpy only.

    result = run_backtest(flows_wide, returns_wide, BacktestParams())

flows_wide: daily country flow % indexed by flow date, one column per ISO2 country.
returns_wide: the market series (index levels, percent daily returns, or yields when
params.spreads) indexed by date, same column codes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

import pandas as pd

from flowmosaic.backtest import bins as binning
from flowmosaic.backtest import returns as rets
from flowmosaic.backtest import signal as sig
from flowmosaic.backtest import stats
from flowmosaic.errors import InputError
from flowmosaic.signals.names import DAILY

DEFAULT_HORIZONS = (5, 10, 20, 45, 65, 130)


@dataclass(frozen=True)
class BacktestParams:
    lookback: int = 20
    compound: bool = True  # False: sum the window instead
    # a signal's look-back: pool its numerators over its denominators (docs/signals.md)
    pooled: bool = False
    lag: int = 0
    delay: int = 2
    bins: int = 5
    trade_day: str = "fri"  # 'fri' weekly with Friday labels, 'none' daily
    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    spreads: bool = False  # returns file holds yields: R = Y(F+h) - Y(F)
    returns_kind: str = "level"  # index mode: 'level' (index levels) or 'pct' (daily % returns)
    # the flow rows: 'daily' (the flow calendar) or 'weekly' (week ends, weekly_country_flows);
    # lookback and lag count rows of that frequency, delay counts flow dates
    frequency: str = "daily"

    def __post_init__(self):
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        problems = []
        if self.lookback < 1:
            problems.append(f"lookback must be >= 1 (got {self.lookback})")
        if self.lag < 0 or self.delay < 0:
            problems.append(f"lag and delay must be >= 0 (got {self.lag}, {self.delay})")
        if self.bins < 2:
            problems.append(f"bins must be >= 2 (got {self.bins})")
        if self.trade_day not in ("fri", "none"):
            problems.append(f"trade_day must be 'fri' or 'none' (got {self.trade_day!r})")
        if not self.horizons or any(h < 1 for h in self.horizons):
            problems.append(f"horizons must be positive weekday counts (got {self.horizons})")
        if len(set(self.horizons)) != len(self.horizons):
            problems.append(f"horizons repeat (got {self.horizons})")
        if self.frequency not in ("daily", "weekly"):
            problems.append(f"frequency must be 'daily' or 'weekly' (got {self.frequency!r})")
        elif self.frequency == "weekly" and self.trade_day != "fri":
            problems.append("a weekly series trades weekly: trade_day must be 'fri'")
        if self.returns_kind not in ("level", "pct"):
            problems.append(f"returns_kind must be 'level' or 'pct' (got {self.returns_kind!r})")
        if problems:
            raise InputError("backtest parameters: " + "; ".join(problems))

    @property
    def step(self) -> int:
        """Weekdays between trade dates: 5 weekly, 1 daily."""
        return 5 if self.trade_day == "fri" else 1

    def for_signal(self, name: str | None, pooled: bool = True) -> BacktestParams:
        """These parameters with the look-back a country signal needs (docs/signals.md,
        "Backtesting a signal"): a daily signal pooled over the look-back (pooled=False: its
        values summed), a monthly one's latest value (lookback 1, summed). None: flow %,
        unchanged."""
        if name is None:
            return self
        if name in DAILY:
            return replace(self, compound=False, pooled=pooled)
        return replace(self, lookback=1, compound=False, pooled=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["horizons"] = list(self.horizons)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def coerce(cls, obj: BacktestParams | dict | None) -> BacktestParams:
        if obj is None:
            return cls()
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(obj) - known
            if unknown:
                raise InputError(
                    f"unknown backtest parameter(s) {sorted(unknown)}; known: {sorted(known)}"
                )
            return cls(**obj)
        raise InputError(f"backtest parameters must be BacktestParams or a dict, not {type(obj)}")


@dataclass
class BacktestResult:
    params: BacktestParams
    flows: pd.DataFrame  # the daily input, columns as used
    compounded: pd.DataFrame  # daily compounded flow %, empty rows dropped
    signal: pd.DataFrame  # lagged, sampled signal per trade date (before the return mask)
    # The per-horizon frames below have one row per trade date from the first flow row on
    # (signal.trade_dates), including the dates before the first bin and after the last.
    bins: dict[int, pd.DataFrame]  # per horizon: bin number per trade date and country
    forward_returns: dict[int, pd.DataFrame]  # per horizon, at trade dates, rules applied
    bin_returns: dict[int, pd.DataFrame]  # per horizon: Q1..Qn, TxB, uRet per trade date
    summary: pd.DataFrame  # long: horizon, statistic, column, value
    calendar_years: pd.DataFrame  # first horizon: year, Q1..Qn, TxB, uRet (AnnMn), N
    extras: dict = field(default_factory=dict)  # filled by the API (factor, paths, meta)

    @property
    def horizons(self) -> tuple[int, ...]:
        return self.params.horizons

    @property
    def columns(self) -> list[str]:
        return stats.bin_columns(self.params.bins)

    def summary_wide(self, horizon: int) -> pd.DataFrame:
        """Statistic x column table for one horizon."""
        s = self.summary[self.summary["horizon"] == horizon]
        wide = s.pivot(index="statistic", columns="column", values="value")
        return wide.reindex(index=list(stats.STATISTICS), columns=self.columns)

    def value(self, horizon: int, statistic: str, column: str) -> float:
        s = self.summary
        hit = s[(s.horizon == horizon) & (s.statistic == statistic) & (s.column == column)]
        if hit.empty:
            raise KeyError((horizon, statistic, column))
        return float(hit["value"].iloc[0])


def _prepare(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    out = frame.copy()
    out.index = sig.as_date_index(out.index)
    out.columns = [str(c).strip().upper() for c in out.columns]
    if out.columns.duplicated().any():
        dup = out.columns[out.columns.duplicated()][0]
        raise InputError(f"{what}: column {dup} appears twice")
    try:
        return out.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: values must be numeric: {exc}") from exc


def run_backtest(
    flows_wide: pd.DataFrame,
    returns_wide: pd.DataFrame,
    params: BacktestParams | dict | None = None,
    membership: pd.DataFrame | None = None,
    signal_input: sig.SignalFrames | None = None,
) -> BacktestResult:
    """The full backtest for every horizon. membership: optional country, from, to frame.

    signal_input: a country signal instead of flow % (flows_wide is then ignored and may be
    None): a daily signal is pooled (params.pooled) or summed over the look-back, a monthly
    one is its latest value (forward-filled; params must say lookback 1, summed)."""
    p = BacktestParams.coerce(params)
    denominator = None
    if signal_input is not None:
        flows_wide, denominator = signal_input.backtest_frames(p)
    elif p.pooled:
        raise InputError("pooled look-back: only a signal with denominators can be pooled")
    flows = _prepare(flows_wide, "flows")
    market = _prepare(returns_wide, "returns")
    common = [c for c in flows.columns if c in market.columns]
    if not common:
        raise InputError(
            f"no country is in both the flows ({', '.join(flows.columns[:12])}...) and the "
            f"returns ({', '.join(market.columns[:12])}...)"
        )
    market = market.reindex(columns=flows.columns)  # countries without returns: never binned

    comp, signal = sig.build_signal(
        flows,
        p.lookback,
        p.compound,
        p.lag,
        p.delay,
        p.trade_day,
        denominator=None if denominator is None else _prepare(denominator, "denominators"),
        calendar_rows=signal_input is not None,
        frequency=p.frequency,
    )
    if signal.empty:
        raise InputError(
            f"flows: {len(flows)} {p.frequency} rows give no signal; the compounding window needs "
            f"{p.lookback} rows and a complete trade week"
        )
    # Every trade date is kept, those before the first bin and those after the last included
    # (as the reference does): uRet counts every date with a return, and the turnover counts
    # the transitions into and out of the portfolio.
    dates = sig.trade_dates(flows, signal, p.trade_day)
    full = signal.reindex(dates)
    fwd = rets.trade_date_returns(
        market, dates, p.horizons, spreads=p.spreads, kind=p.returns_kind, membership=membership
    )

    all_bins, tables, long = {}, {}, []
    for h in p.horizons:
        r = fwd[h]
        b = binning.assign_bins(full, p.bins, valid=r.notna().to_numpy())
        t = binning.bin_returns(b, r, p.bins)
        all_bins[h], tables[h] = b, t
        wide = stats.summarize(t, h, p.step, b, p.bins)
        long.append(stats.to_long(wide, h))
    summary = pd.concat(long, ignore_index=True)
    first = p.horizons[0]
    cal = stats.calendar_years(tables[first], first)
    return BacktestResult(
        params=p,
        flows=flows,
        compounded=comp,
        signal=signal,
        bins=all_bins,
        forward_returns=fwd,
        bin_returns=tables,
        summary=summary,
        calendar_years=cal,
        extras={}
        if signal_input is None
        else {"signal": signal_input.name, "signal_values": signal_input.values},
    )
