"""The rule for comparing a computed sum of weighted terms with an independent computation.

Two correct implementations of sum_i x_i w_i differ only by rounding, which depends on the
order of the additions. The error of a floating-point sum is bounded by a multiple of
(unit roundoff) x (the sum of the absolute values of its terms), not of the result: a sum
of large terms that cancel to near zero can legitimately differ by far more than 1e-9 of
itself. So the tolerance scales with the size of the terms summed:

    sums (flow_usd, assets_start_usd, portfolio_change_usd):
        |a - b| <= REL x sum_i |x_i w_i|
    percentages (flow_pct = 100 x sum flow w / sum assets w; pseudo_return_pct alike):
        |a - b| <= REL x 100 x sum_i |flow_i w_i| / sum_i assets_i w_i

REL = 1e-9 is well above the worst-case rounding of a double-precision sum of n terms, about
n x 1.1e-16 of the absolute terms (1e-12 for ten thousand terms, and the typical error is far
smaller), and far below any real difference (a fund or a weight missing or counted twice).
Where the denominator is 0 a percentage is NULL (NaN) on both sides.

Used by tests/e2e/test_small_universe.py and by the benchmark's correctness check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REL = 1e-9


def sum_tolerance(abs_terms: np.ndarray | pd.Series, rel: float = REL) -> np.ndarray:
    """Allowed |a - b| for a sum whose terms' absolute values add up to abs_terms."""
    return rel * np.asarray(abs_terms, dtype=float)


def pct_tolerance(
    abs_numerator_terms: np.ndarray | pd.Series,
    denominator: np.ndarray | pd.Series,
    rel: float = REL,
) -> np.ndarray:
    """Allowed |a - b| for 100 x numerator / denominator: rel x 100 x (sum of the
    numerator's absolute terms) / |denominator| (NaN where the denominator is 0)."""
    num = np.asarray(abs_numerator_terms, dtype=float)
    den = np.abs(np.asarray(denominator, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, rel * 100.0 * num / den, np.nan)


def violations(got, want, tol) -> np.ndarray:
    """Boolean mask of the rows where |got - want| > tol. Both NaN is agreement; NaN on one
    side only, or a NaN tolerance with a value on either side, is a violation."""
    a = np.asarray(got, dtype=float)
    b = np.asarray(want, dtype=float)
    t = np.asarray(tol, dtype=float)
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        ok = np.abs(a - b) <= t
    return ~(both_nan | ok)


def assert_within(
    frame: pd.DataFrame, got: str, want: str, tol, what: str | None = None, show: int = 5
) -> None:
    """Raise AssertionError naming the worst rows of `frame` where column `got` is farther
    from column `want` than `tol` (an array aligned with frame, or a column name)."""
    t = frame[tol].to_numpy(dtype=float) if isinstance(tol, str) else np.asarray(tol, float)
    bad = violations(frame[got], frame[want], t)
    if bad.any():
        rows = frame.loc[bad].assign(_diff=(frame[got] - frame[want]).abs()[bad], _tol=t[bad])
        rows = rows.assign(_excess=rows["_diff"] - rows["_tol"]).sort_values(
            "_excess", ascending=False, na_position="first"
        )
        raise AssertionError(
            f"{what or got}: {int(bad.sum())} of {len(frame)} rows outside "
            f"the tolerance; worst:\n{rows.head(show).to_string()}"
        )


def scaled_differences(got, want, tol) -> np.ndarray:
    """|got - want| / tol per row: <= 1 is within the tolerance. Both NaN gives 0; NaN on one
    side, or a NaN or zero tolerance under a difference, gives inf."""
    a = np.asarray(got, dtype=float)
    b = np.asarray(want, dtype=float)
    t = np.asarray(tol, dtype=float)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(diff == 0, 0.0, diff / t)
    out = np.where(np.isnan(a) & np.isnan(b), 0.0, out)
    return np.where(np.isnan(out), np.inf, out)


def worst_excess(frame: pd.DataFrame, spark_suffix: str, ref_suffix: str) -> float:
    """The largest scaled difference over flow_usd, assets_start_usd and flow_pct of a merged
    frame holding both sides (columns NAME + suffix) and the reference's term sizes
    `flow_terms` and `assets_terms` (sums of |flow x w| and |assets x w|)."""
    if frame.empty:
        return 0.0
    ref = frame[f"assets_start_usd{ref_suffix}"]
    checks = {
        "flow_usd": sum_tolerance(frame["flow_terms"]),
        "assets_start_usd": sum_tolerance(frame["assets_terms"]),
        "flow_pct": pct_tolerance(frame["flow_terms"], ref),
    }
    return float(
        max(
            scaled_differences(frame[c + spark_suffix], frame[c + ref_suffix], t).max()
            for c, t in checks.items()
        )
    )
