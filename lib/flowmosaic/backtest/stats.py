"""Summary statistics of bin-return tables (docs/methodology.md, "8. The backtest",
steps 9-11).

A table has one row per trade date and columns Q1..Qn, TxB, uRet holding returns over the
horizon h; A = 260 / h periods a year. The engine passes every trade date from the first flow
row on, so uRet (the mean return of every country with one) also has values on the dates
before the first bin; missing values are left out of each statistic. Horizons longer than the
trade step (5 weekdays when trading weekly, 1 when daily) overlap: the rows are split into
ceil(h / step) interleaved sub-series (row i, i+k, i+2k, ...), each statistic is computed on
each sub-series, and the sub-series values are averaged (a plain mean: a sub-series without a
value makes the statistic missing).

Statistics per column:
- AnnMn   mean x A
- AnnSd   sample sd (ddof 1) x sqrt(A)
- Sharpe  100 x AnnMn / AnnSd (no risk-free rate)
- HitRate 50 x mean(sign(r))  (so +50 = always positive, -50 = always negative)
- Beta, Alpha  OLS of the column on uRet with intercept over the rows where both exist,
          Alpha = intercept x A; missing with fewer than 2 such rows or a constant uRet. (The
          reference library returns NA as soon as the column lacks a value where uRet has one;
          since uRet also covers the dates before any bin, that would make Beta always NA.
          This is the one intended difference from it.)
- DrawDn  the most negative sum of consecutive returns (missing counted as 0); 0 if none is
          negative. DDnBeg = its first period (a date, stored as yyyymmdd), DDnN = its length in
          periods; the latest peak is used, so a drawdown starts with its first losing period.
          Over sub-series DDnBeg is the average date (rounded to a day).
- AnnTo   annualised bin turnover: per bin, mean over consecutive rows of
          100 - 100 x kept / max(old size, new size), times A; TxB = Q1 + Qn; uRet = 0. A
          missing bin is an empty one: a row pair where the bin is empty on both sides is left
          out, so the move from the empty dates before the first bins counts 100 (as does the
          move to empty dates after the last), as in the reference's bbk.turnover.
- TStat   mean / sd x sqrt(n) of the column's series with n its non-missing count; on
          overlapping horizons it is the average over the non-overlapping sub-series (each
          sub-series has independent-period returns, so this is the overlap-corrected t-stat).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()

STATISTICS = (
    "AnnMn",
    "AnnSd",
    "Sharpe",
    "HitRate",
    "Beta",
    "Alpha",
    "DrawDn",
    "DDnBeg",
    "DDnN",
    "AnnTo",
    "TStat",
)


def periods_per_year(horizon: int) -> float:
    return 260.0 / horizon


def n_subseries(horizon: int, step: int = 5) -> int:
    """How many interleaved sub-series make non-overlapping returns: ceil(h / step)."""
    return max(1, math.ceil(horizon / step))


def bin_columns(n_bins: int) -> list[str]:
    return [f"Q{q}" for q in range(1, n_bins + 1)] + ["TxB", "uRet"]


def _moments(a: np.ndarray):
    """Per-column count, mean, sample sd of a 2-D array with NaN."""
    n = np.isfinite(a).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(a), a - mean, 0.0)
        sd = np.where(n > 1, np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1)), np.nan)
    return n, mean, sd


def drawdown(r: np.ndarray) -> tuple[float, int | None, int]:
    """(most negative sum of consecutive returns, first row of it or None, its length)."""
    v, i, n = drawdowns(np.asarray(r, dtype=float).reshape(-1, 1))
    return float(v[0]), (None if i[0] < 0 else int(i[0])), int(n[0])


def drawdowns(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a (rows x columns): drawdown value, first row (-1 if none), length.

    With cs = [0, cumsum(r)] (missing = 0) the drawdown ending at j is cs[j] - max(cs[:j+1]);
    the worst j is the first minimum, its peak the latest row reaching that maximum.
    """
    x = np.nan_to_num(a, nan=0.0)
    cs = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    peak = np.maximum.accumulate(cs, axis=0)
    dd = cs - peak
    j = np.argmin(dd, axis=0)
    cols = np.arange(x.shape[1])
    worst = dd[j, cols]
    rows = np.arange(cs.shape[0])[:, None]
    at_peak = (cs == peak[j, cols][None, :]) & (rows <= j[None, :])
    i = cs.shape[0] - 1 - np.argmax(at_peak[::-1], axis=0)  # last True
    neg = worst < 0
    return (np.where(neg, worst, 0.0), np.where(neg, i, -1), np.where(neg, j - i, 0))


def turnover(bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Per bin (length n_bins): mean over consecutive rows of 100 - 100 kept / max(sizes).

    bins: (rows x countries) of bin numbers with NaN for 'not binned'. Transitions where both
    sides are empty are skipped; from or to an empty bin the turnover is 100.
    """
    if bins.shape[0] < 2:
        return np.full(n_bins, np.nan)
    qs = np.arange(1, n_bins + 1, dtype=float)
    o = bins[:-1, :, None] == qs  # (transitions, countries, bins)
    w = bins[1:, :, None] == qs
    kept = (o & w).sum(axis=1)
    size = np.maximum(o.sum(axis=1), w.sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        to = np.where(size > 0, 100.0 - 100.0 * kept / size, np.nan)
        cnt = np.isfinite(to).sum(axis=0)
        return np.where(cnt > 0, np.nansum(to, axis=0) / np.maximum(cnt, 1), np.nan)


def series_stats(
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    columns: list[str],
    A: float,
    bins: np.ndarray | None = None,
    n_bins: int | None = None,
) -> dict[str, np.ndarray]:
    """Every statistic on one (non-overlapping) series; values is rows x columns."""
    a = np.asarray(values, dtype=float)
    ncol = a.shape[1]
    n, mean, sd = _moments(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = {
            "AnnMn": mean * A,
            "AnnSd": sd * math.sqrt(A),
        }
        res["Sharpe"] = np.where(res["AnnSd"] > 0, 100.0 * res["AnnMn"] / res["AnnSd"], np.nan)
        sgn = np.where(np.isfinite(a), np.sign(a), 0.0)
        res["HitRate"] = np.where(n > 0, 50.0 * sgn.sum(axis=0) / np.maximum(n, 1), np.nan)
        res["TStat"] = np.where(sd > 0, mean / sd * np.sqrt(n), np.nan)

    beta = np.full(ncol, np.nan)
    alpha = np.full(ncol, np.nan)
    if "uRet" in columns:
        u = a[:, columns.index("uRet")]
        for j in range(ncol):  # OLS over the rows where both the column and uRet exist
            both = np.isfinite(u) & np.isfinite(a[:, j])
            if both.sum() < 2:
                continue
            uu, yy = u[both], a[both, j]
            du = uu - uu.mean()
            ss = float(np.dot(du, du))
            if ss > 0:
                beta[j] = float(np.dot(du, yy - yy.mean())) / ss
                alpha[j] = (yy.mean() - beta[j] * uu.mean()) * A
    res["Beta"], res["Alpha"] = beta, alpha

    v, i, m = drawdowns(a)
    ordinals = np.asarray(
        dates.to_numpy().astype("datetime64[D]").astype(np.int64) + _EPOCH_ORDINAL, dtype=float
    )
    beg = np.where(i >= 0, ordinals[np.maximum(i, 0)] if len(ordinals) else np.nan, np.nan)
    empty = n == 0
    res["DrawDn"] = np.where(empty, np.nan, v)
    res["DDnBeg"] = np.where(empty, np.nan, beg)  # a proleptic ordinal here, yyyymmdd at the end
    res["DDnN"] = np.where(empty, np.nan, m.astype(float))

    to = np.full(ncol, np.nan)
    if bins is not None and n_bins:
        per_bin = turnover(bins, n_bins) * A
        for q in range(1, n_bins + 1):
            name = f"Q{q}"
            if name in columns:
                to[columns.index(name)] = per_bin[q - 1]
        if "TxB" in columns:
            to[columns.index("TxB")] = per_bin[0] + per_bin[n_bins - 1]
        if "uRet" in columns:
            to[columns.index("uRet")] = 0.0
    res["AnnTo"] = to
    return res


def ordinal_to_yyyymmdd(x: float) -> float:
    if not np.isfinite(x):
        return np.nan
    d = pd.Timestamp.fromordinal(int(round(x)))
    return float(d.year * 10000 + d.month * 100 + d.day)


def summarize_reference(
    table: pd.DataFrame,
    horizon: int,
    step: int = 5,
    bins: pd.DataFrame | None = None,
    n_bins: int | None = None,
) -> pd.DataFrame:
    """summarize() written as a plain loop over the sub-series (series_stats on each).

    Kept as the readable reference; a test checks summarize() agrees with it.
    """
    cols = list(table.columns)
    A = periods_per_year(horizon)
    k = n_subseries(horizon, step)
    a = table.to_numpy(dtype=float)
    b = None if bins is None else bins.reindex(table.index).to_numpy(dtype=float)
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for i in range(k):
            idx = np.arange(i, len(table), k)
            if len(idx) == 0:
                continue
            parts.append(
                series_stats(
                    a[idx], table.index[idx], cols, A, None if b is None else b[idx], n_bins
                )
            )
        out = {}
        for stat in STATISTICS:
            if not parts:
                out[stat] = np.full(len(cols), np.nan)
                continue
            stack = np.vstack([p[stat] for p in parts])
            if stat == "DDnBeg":
                out[stat] = np.array([ordinal_to_yyyymmdd(v) for v in np.nanmean(stack, axis=0)])
            else:
                out[stat] = stack.mean(axis=0)
    return pd.DataFrame(out, index=cols).T.rename_axis("statistic")


def to_long(wide: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Wide summary (statistic x column) -> long rows (horizon, statistic, column, value)."""
    ns, nc = wide.shape
    return pd.DataFrame(
        {
            "horizon": np.full(ns * nc, int(horizon)),
            "statistic": np.repeat(np.asarray(wide.index, dtype=object), nc),
            "column": np.tile(np.asarray(wide.columns, dtype=object), ns),
            "value": wide.to_numpy(dtype=float).ravel(),
        }
    )


def window_end(dates: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The weekday `horizon` weekdays after each trade date (the end of its return window)."""
    return dates + pd.offsets.BDay(horizon)


def calendar_years(table: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """AnnMn per calendar year of the window's end, and the count of periods (N).

    N counts the periods with a Q1 return, as the reference's period count does (uRet also
    has values on dates before the first bin); a table without Q1 counts uRet's periods.
    """
    cols = list(table.columns)
    if len(table) == 0:
        return pd.DataFrame(columns=["year", *cols, "N"])
    A = periods_per_year(horizon)
    year = window_end(table.index, horizon).year
    grouped = table.groupby(np.asarray(year))
    out = grouped.mean() * A
    counted = "Q1" if "Q1" in cols else "uRet" if "uRet" in cols else None
    out["N"] = grouped[counted].count() if counted else grouped.size()
    out.index.name = "year"
    return out.reset_index()


def summarize(
    table: pd.DataFrame,
    horizon: int,
    step: int = 5,
    bins: pd.DataFrame | None = None,
    n_bins: int | None = None,
) -> pd.DataFrame:
    """Wide summary: index = statistic (STATISTICS order), columns = table's columns.

    bins (rows aligned with table) gives the bin membership for AnnTo. All sub-series are
    computed at once: the rows are laid out as (row within sub-series, sub-series, column),
    padded with missing rows at the end, which change no statistic.
    """
    cols = list(table.columns)
    ncol = len(cols)
    A = periods_per_year(horizon)
    T = len(table)
    k = min(n_subseries(horizon, step), T)  # sub-series that hold at least one row
    if T == 0:
        return pd.DataFrame(
            {st: np.full(ncol, np.nan) for st in STATISTICS}, index=cols
        ).T.rename_axis("statistic")
    m = math.ceil(T / k)
    pad = m * k - T
    a = np.vstack([table.to_numpy(dtype=float), np.full((pad, ncol), np.nan)])
    X = a.reshape(m, k, ncol)  # X[r, s] = table row s + r k
    real = (np.arange(m * k) < T).reshape(m, k)
    flat = X.reshape(m, k * ncol)
    out: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        with np.errstate(invalid="ignore", divide="ignore"):
            n, mean, sd = _moments(flat)
            ann_mn = mean * A
            ann_sd = sd * math.sqrt(A)
            per = {
                "AnnMn": ann_mn,
                "AnnSd": ann_sd,
                "Sharpe": np.where(ann_sd > 0, 100.0 * ann_mn / ann_sd, np.nan),
                "HitRate": np.where(
                    n > 0,
                    50.0
                    * np.where(np.isfinite(flat), np.sign(flat), 0.0).sum(axis=0)
                    / np.maximum(n, 1),
                    np.nan,
                ),
                "TStat": np.where(sd > 0, mean / sd * np.sqrt(n), np.nan),
            }
            per = {key: v.reshape(k, ncol) for key, v in per.items()}

            beta = np.full((k, ncol), np.nan)
            alpha = np.full((k, ncol), np.nan)
            if "uRet" in cols:
                # OLS per column over the rows where both the column and uRet exist
                u = X[:, :, cols.index("uRet")][:, :, None]
                both = np.isfinite(X) & np.isfinite(u)
                nb = both.sum(axis=0)
                d = np.maximum(nb, 1)
                mu = np.where(both, u, 0.0).sum(axis=0) / d
                ym = np.where(both, X, 0.0).sum(axis=0) / d
                du = np.where(both, u - mu, 0.0)
                ss = (du * du).sum(axis=0)
                b = (du * np.where(both, X - ym, 0.0)).sum(axis=0) / ss
                ok = (nb > 1) & (ss > 0)
                beta = np.where(ok, b, np.nan)
                alpha = np.where(ok, (ym - b * mu) * A, np.nan)
            per["Beta"], per["Alpha"] = beta, alpha

            v, i, length = drawdowns(flat)
            v, i, length = v.reshape(k, ncol), i.reshape(k, ncol), length.reshape(k, ncol)
            rows = np.maximum(i, 0) * k + np.arange(k)[:, None]  # table row of the start
            ordinals = (
                table.index.to_numpy().astype("datetime64[D]").astype(np.int64) + _EPOCH_ORDINAL
            ).astype(float)
            empty = n.reshape(k, ncol) == 0
            per["DrawDn"] = np.where(empty, np.nan, v)
            per["DDnBeg"] = np.where(empty | (i < 0), np.nan, ordinals[np.minimum(rows, T - 1)])
            per["DDnN"] = np.where(empty, np.nan, length.astype(float))

            to = np.full((k, ncol), np.nan)
            if bins is not None and n_bins:
                B = bins.reindex(table.index).to_numpy(dtype=float)
                B = np.vstack([B, np.full((pad, B.shape[1]), np.nan)]).reshape(m, k, -1)
                per_bin = np.full((k, n_bins), np.nan)
                if m > 1:
                    qs = np.arange(1, n_bins + 1, dtype=float)
                    o = B[:-1, :, :, None] == qs  # (transitions, sub-series, countries, bins)
                    w = B[1:, :, :, None] == qs
                    kept = (o & w).sum(axis=2)
                    size = np.maximum(o.sum(axis=2), w.sum(axis=2))
                    use = (size > 0) & (real[:-1] & real[1:])[:, :, None]
                    t = np.where(use, 100.0 - 100.0 * kept / np.maximum(size, 1), 0.0)
                    cnt = use.sum(axis=0)
                    per_bin = np.where(cnt > 0, t.sum(axis=0) / np.maximum(cnt, 1), np.nan) * A
                for q in range(1, n_bins + 1):
                    if f"Q{q}" in cols:
                        to[:, cols.index(f"Q{q}")] = per_bin[:, q - 1]
                if "TxB" in cols:
                    to[:, cols.index("TxB")] = per_bin[:, 0] + per_bin[:, n_bins - 1]
                if "uRet" in cols:
                    to[:, cols.index("uRet")] = 0.0
            per["AnnTo"] = to

            for stat in STATISTICS:
                if stat == "DDnBeg":
                    out[stat] = np.array(
                        [ordinal_to_yyyymmdd(x) for x in np.nanmean(per[stat], axis=0)]
                    )
                else:
                    out[stat] = per[stat].mean(axis=0)
    return pd.DataFrame(out, index=cols).T.rename_axis("statistic")
