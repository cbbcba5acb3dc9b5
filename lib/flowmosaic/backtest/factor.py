"""Factor analytics beside the backtest (docs/methodology.md, "9. Factor analytics"), never
changing its numbers.

Everything is computed from a BacktestResult: per-date Spearman rank IC by horizon and its
mean, sd, t-stat and IR; mean return by quantile with a confidence band; cumulative Q1..Qn and
TxB; quantile turnover per date; signal rank autocorrelation. Each summary is given for the
whole sample ('All'), each calendar year ('2015') and each user sub-period ('2007-2014').

Conventions:
- IC(F, h): Spearman correlation over the countries with both a signal and a forward return
  (the names binned at F), needing at least 3 names; ties get average ranks.
- IC t-stat: overlap-corrected like stats.TStat (the average over ceil(h/step) interleaved
  sub-series of mean / sd x sqrt(n)); IR = mean / sd of the per-date IC (not annualised).
- Quantile band: mean +- 1.96 x sd / sqrt(n / k), k = ceil(h/step) (n / k independent periods).
- Cumulative returns: running sum of the first horizon's rows (missing = 0), divided by k so
  overlapping daily portfolios are not counted k times.
- Periods are assigned by trade date; a calendar year by the trade date's year too.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowmosaic.backtest import stats
from flowmosaic.errors import InputError


@dataclass(frozen=True)
class Period:
    label: str
    start: pd.Timestamp
    end: pd.Timestamp

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        return np.asarray((index >= self.start) & (index <= self.end))


def parse_periods(text: str | None) -> list[Period]:
    """'2007-2014,2015-2022' (years, inclusive) or 'yyyymmdd-yyyymmdd' items, comma separated."""
    if not text:
        return []
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"(\d{4}|\d{8})\s*-\s*(\d{4}|\d{8})", item)
        if not m:
            raise InputError(f"--periods: {item!r} is not YYYY-YYYY or yyyymmdd-yyyymmdd")
        a, b = m.groups()
        start = pd.Timestamp(f"{a}-01-01") if len(a) == 4 else pd.Timestamp(a)
        end = pd.Timestamp(f"{b}-12-31") if len(b) == 4 else pd.Timestamp(b)
        if end < start:
            raise InputError(f"--periods: {item!r} ends before it starts")
        out.append(Period(item, start, end))
    return out


def default_periods(dates: pd.DatetimeIndex) -> list[Period]:
    """Two halves of the sample, split at a calendar-year boundary near the middle."""
    if len(dates) < 2:
        return []
    years = sorted(set(dates.year))
    if len(years) < 2:
        return []
    mid = years[len(years) // 2]
    return [
        Period(
            f"{years[0]}-{mid - 1}",
            pd.Timestamp(f"{years[0]}-01-01"),
            pd.Timestamp(f"{mid - 1}-12-31"),
        ),
        Period(
            f"{mid}-{years[-1]}", pd.Timestamp(f"{mid}-01-01"), pd.Timestamp(f"{years[-1]}-12-31")
        ),
    ]


def _rank_rows(a: np.ndarray) -> np.ndarray:
    return pd.DataFrame(a).rank(axis=1, method="average").to_numpy()


def _row_corr(x: np.ndarray, y: np.ndarray, min_n: int = 3) -> np.ndarray:
    """Pearson correlation per row over the cells where both are present."""
    both = np.isfinite(x) & np.isfinite(y)
    n = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(both, x, 0.0).sum(axis=1) / n
        ym = np.where(both, y, 0.0).sum(axis=1) / n
        dx = np.where(both, x - xm[:, None], 0.0)
        dy = np.where(both, y - ym[:, None], 0.0)
        c = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    c[n < min_n] = np.nan
    return c


def spearman_rows(x: np.ndarray, y: np.ndarray, min_n: int = 3) -> np.ndarray:
    """Spearman correlation per row, ranking within the cells present in both."""
    both = np.isfinite(x) & np.isfinite(y)
    return _row_corr(
        _rank_rows(np.where(both, x, np.nan)), _rank_rows(np.where(both, y, np.nan)), min_n
    )


def tstat_overlap(x: np.ndarray, k: int) -> float:
    """Average over k interleaved sub-series of mean / sd x sqrt(n)."""
    vals = []
    for i in range(k):
        s = x[i::k]
        s = s[np.isfinite(s)]
        if len(s) > 1 and s.std(ddof=1) > 0:
            vals.append(s.mean() / s.std(ddof=1) * math.sqrt(len(s)))
        else:
            vals.append(np.nan)
    return float(np.mean(vals)) if vals else np.nan


def turnover_series(bins: pd.DataFrame, q: int) -> pd.Series:
    """Per trade date: 100 - 100 x kept / max(old, new size) for bin q vs the previous date."""
    b = bins.to_numpy(dtype=float)
    out = np.full(len(b), np.nan)
    if len(b) > 1:
        o, w = b[:-1] == q, b[1:] == q
        size = np.maximum(o.sum(axis=1), w.sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = np.where(size > 0, 100.0 - 100.0 * (o & w).sum(axis=1) / size, np.nan)
    return pd.Series(out, index=bins.index, name=f"Q{q}")


@dataclass
class FactorResult:
    ic: pd.DataFrame  # index trade date, one column per horizon
    ic_summary: pd.DataFrame  # period, horizon, n, mean, sd, tstat, ir
    quantile_means: pd.DataFrame  # period, horizon, column, n, mean, se, lo, hi
    cumulative: pd.DataFrame  # first horizon: running sums of Q1..Qn, TxB, uRet
    turnover: pd.DataFrame  # first horizon: per-date turnover % of Q1 and Qn
    rank_autocorr: pd.Series  # per trade date
    rank_autocorr_summary: pd.DataFrame  # period, n, mean
    period_summary: pd.DataFrame  # period, horizon, statistic, column, value
    periods: list[Period]


def _all_periods(dates: pd.DatetimeIndex, periods: list[Period]) -> list[Period]:
    out = [Period("All", dates.min(), dates.max())] if len(dates) else []
    out += [
        Period(str(y), pd.Timestamp(f"{y}-01-01"), pd.Timestamp(f"{y}-12-31"))
        for y in sorted(set(dates.year))
    ]
    return out + list(periods)


def analyse(result, periods: list[Period] | None = None) -> FactorResult:
    """Factor analytics of a BacktestResult. periods: user sub-periods (default: two halves)."""
    p = result.params
    first = p.horizons[0]
    if periods is None:
        periods = default_periods(result.bin_returns[first].index)
    ic_cols = {}
    for h in p.horizons:
        b = result.bins[h]
        s = result.signal.reindex(b.index).to_numpy(dtype=float)
        r = result.forward_returns[h].reindex(b.index).to_numpy(dtype=float)
        binned = b.notna().to_numpy()
        ic_cols[h] = pd.Series(
            spearman_rows(np.where(binned, s, np.nan), np.where(binned, r, np.nan)), index=b.index
        )
    ic = pd.DataFrame(ic_cols)
    ic.index.name = "date"

    sig = result.signal.to_numpy(dtype=float)
    ac = np.full(len(sig), np.nan)
    if len(sig) > 1:
        ac[1:] = spearman_rows(sig[1:], sig[:-1])
    rank_ac = pd.Series(ac, index=result.signal.index, name="rank_autocorr")

    table = result.bin_returns[first]
    k1 = stats.n_subseries(first, p.step)
    cumulative = table.fillna(0.0).cumsum() / k1
    turnover = pd.concat(
        [turnover_series(result.bins[first], 1), turnover_series(result.bins[first], p.bins)],
        axis=1,
    )

    ic_rows, q_rows, ac_rows, summ = [], [], [], []
    all_dates = table.index
    cols = [c for c in table.columns if c != "uRet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for per in _all_periods(all_dates, periods):
            for h in p.horizons:
                k = stats.n_subseries(h, p.step)
                x = ic[h].to_numpy()[per.mask(ic.index)]
                xs = x[np.isfinite(x)]
                mean = xs.mean() if len(xs) else np.nan
                sd = xs.std(ddof=1) if len(xs) > 1 else np.nan
                ic_rows.append(
                    {
                        "period": per.label,
                        "horizon": h,
                        "n": len(xs),
                        "mean": mean,
                        "sd": sd,
                        "tstat": tstat_overlap(x, k),
                        "ir": mean / sd if sd and sd > 0 else np.nan,
                    }
                )
                t = result.bin_returns[h]
                t = t.loc[per.mask(t.index)]
                n, m, sd = stats._moments(t[cols].to_numpy(dtype=float))
                se = sd / np.sqrt(np.maximum(n, 1) / k)
                for j, c in enumerate(cols):
                    q_rows.append(
                        {
                            "period": per.label,
                            "horizon": h,
                            "column": c,
                            "n": int(n[j]),
                            "mean": m[j],
                            "se": se[j],
                            "lo": m[j] - 1.96 * se[j],
                            "hi": m[j] + 1.96 * se[j],
                        }
                    )
                if per.label != "All" and len(t):
                    wide = stats.summarize(t, h, p.step, result.bins[h].loc[t.index], p.bins)
                    long = stats.to_long(wide, h)
                    long.insert(0, "period", per.label)
                    summ.append(long)
            v = rank_ac.to_numpy()[per.mask(rank_ac.index)]
            v = v[np.isfinite(v)]
            ac_rows.append(
                {"period": per.label, "n": len(v), "mean": v.mean() if len(v) else np.nan}
            )
    period_summary = (
        pd.concat(summ, ignore_index=True)
        if summ
        else pd.DataFrame(columns=["period", "horizon", "statistic", "column", "value"])
    )
    return FactorResult(
        ic=ic,
        ic_summary=pd.DataFrame(ic_rows),
        quantile_means=pd.DataFrame(q_rows),
        cumulative=cumulative,
        turnover=turnover,
        rank_autocorr=rank_ac,
        rank_autocorr_summary=pd.DataFrame(ac_rows),
        period_summary=period_summary,
        periods=list(periods),
    )
