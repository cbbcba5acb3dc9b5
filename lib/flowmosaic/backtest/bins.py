"""Quantile bins per trade date (docs/methodology.md, "8. The backtest", steps 7-8).

Per date, among the countries with both a signal and a return: sort by signal descending (bin 1
= highest flow), ties keep column order; with N names and n bins the boundary after bin k is
N x k / n rounded half down (10 -> 2,2,2,2,2; 43 -> 9,8,9,8,9; 17 -> 3,4,3,4,3; 4 -> 1,1,0,1,1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def boundaries(n_names: np.ndarray | int, n_bins: int) -> np.ndarray:
    """Boundaries after bins 1..n-1, i.e. round_half_down(N k / n), in exact integer arithmetic.

    round_half_down(p / q) = ceil((2p - q) / (2q)); here p = N k and q = n.
    Returns an int array of shape (len(N), n_bins - 1).
    """
    N = np.atleast_1d(np.asarray(n_names, dtype=np.int64))[:, None]
    k = np.arange(1, n_bins, dtype=np.int64)[None, :]
    num = 2 * N * k - n_bins
    return -((-num) // (2 * n_bins))  # ceil division for integers


def bin_sizes(n_names: int, n_bins: int) -> list[int]:
    b = np.concatenate([[0], boundaries(n_names, n_bins)[0], [n_names]])
    return [int(x) for x in np.diff(b)]


def assign_bins(
    signal: pd.DataFrame, n_bins: int = 5, valid: pd.DataFrame | np.ndarray | None = None
) -> pd.DataFrame:
    """Bin numbers 1..n_bins (float, NaN where a country is not binned) per row.

    valid: optional boolean mask of the same shape (e.g. 'has a forward return'); a country
    is binned where its signal is present and valid is True.
    """
    if n_bins < 1:
        raise ValueError(f"the number of bins must be >= 1, got {n_bins}")
    s = signal.to_numpy(dtype=float)
    ok = np.isfinite(s)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    key = np.where(ok, -s, np.inf)
    order = np.argsort(key, axis=1, kind="stable")  # ties: column order kept
    rank = np.empty_like(order)
    rows = np.arange(s.shape[0])[:, None]
    rank[rows, order] = np.arange(s.shape[1])[None, :]
    n = ok.sum(axis=1)
    b = boundaries(n, n_bins)  # (T, n_bins - 1)
    bins = 1 + (rank[:, :, None] >= b[:, None, :]).sum(axis=2)
    out = np.where(ok, bins.astype(float), np.nan)
    return pd.DataFrame(out, index=signal.index, columns=signal.columns)


def bin_returns(bins: pd.DataFrame, returns: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Q1..Qn (mean over the bin of return - uRet), TxB = Q1 - Qn, uRet (raw).

    uRet is the equal-weight mean return of every country with a return on that date.
    """
    r = returns.to_numpy(dtype=float)
    has = np.isfinite(r)
    cnt = has.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(cnt > 0, np.nansum(r, axis=1) / np.maximum(cnt, 1), np.nan)
    x = r - u[:, None]
    b = bins.to_numpy(dtype=float)
    cols = {}
    for q in range(1, n_bins + 1):
        m = (b == q) & has
        k = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols[f"Q{q}"] = np.where(
                k > 0, np.where(m, x, 0.0).sum(axis=1) / np.maximum(k, 1), np.nan
            )
    cols["TxB"] = cols["Q1"] - cols[f"Q{n_bins}"]
    cols["uRet"] = u
    return pd.DataFrame(cols, index=bins.index)
