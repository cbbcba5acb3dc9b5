"""Random streams and the draws every source shares.

Every stream is a numpy Generator(PCG64(SeedSequence([seed, *key]))): the key says which part of
the universe draws from it (the package docstring lists them), so a new source takes a new key
and leaves every existing stream, hence every existing file, as it was.
"""

from __future__ import annotations

import numpy as np


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


def _tnoise(rng: np.random.Generator, size, df: float = 4.0) -> np.ndarray:
    """Student-t draws scaled to unit variance (fat tails)."""
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def _ar1(rng: np.random.Generator, n: int, k: int, phi: float, sd) -> np.ndarray:
    """(n, k) AR(1) paths with stationary sd `sd` (scalar or (k,)), started stationary.

    Blocked recursion: within blocks of 64 rows a lower-triangular matrix of phi powers, then the
    carry from block to block (the same numbers every run).
    """
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (k,))
    eps = rng.standard_normal((n, k)) * sd * np.sqrt(1 - phi * phi)
    eps[0] = rng.standard_normal(k) * sd
    block = 64
    lags = np.arange(block)
    tri = np.tril(phi ** np.maximum(lags[:, None] - lags[None, :], 0))
    decay = phi ** (lags + 1.0)  # weight of the previous block's last value
    x = np.empty((n, k))
    carry = np.zeros(k)
    for b0 in range(0, n, block):
        e = eps[b0 : b0 + block]
        m = len(e)
        x[b0 : b0 + m] = tri[:m, :m] @ e + decay[:m, None] * carry
        carry = x[b0 + m - 1]
    return x


def _choice(rng: np.random.Generator, probs: dict) -> str:
    keys = list(probs)
    p = np.array([probs[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]
