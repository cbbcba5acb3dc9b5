"""The comparison rule of tests/support/tolerance.py."""

import numpy as np
import pandas as pd
import pytest

from tests.support import tolerance as tol


def test_sum_tolerance_scales_with_the_terms_not_the_result():
    terms = np.array([1e12, -1e12, 3.0])  # cancels to 3
    t = tol.sum_tolerance(np.abs(terms).sum())
    assert t == pytest.approx(2e3 + 3e-9)
    assert not tol.violations([3.0 + 1e-4], [3.0], [t]).any()  # rounding-sized: fine
    assert tol.violations([3.0 + 1e4], [3.0], [t]).all()  # a missing term: not


def test_pct_tolerance_and_nulls():
    t = tol.pct_tolerance([5.0, 5.0], [1000.0, 0.0])
    assert t[0] == pytest.approx(1e-9 * 100 * 5 / 1000) and np.isnan(t[1])
    got, want = [0.5, np.nan, np.nan, 1.0], [0.5, np.nan, 1.0, np.nan]
    assert tol.violations(got, want, [0.0, np.nan, 1.0, 1.0]).tolist() == [False, False, True, True]
    # a NaN tolerance (zero denominator) with values on both sides is a violation
    assert tol.violations([1.0], [1.0], [np.nan]).all()


def test_assert_within_names_the_worst_rows():
    df = pd.DataFrame(
        {"k": ["a", "b", "c"], "x": [1.0, 2.0, 3.5], "y": [1.0, 2.1, 3.0], "t": [0.0, 0.2, 0.1]}
    )
    with pytest.raises(AssertionError, match=r"x: 1 of 3 rows") as err:
        tol.assert_within(df, "x", "y", "t")
    assert "3.5" in str(err.value) and "2.1" not in str(err.value)
    tol.assert_within(df.iloc[:2], "x", "y", "t")


def test_worst_excess_scales_by_the_terms_and_flags_one_sided_nan():
    frame = pd.DataFrame(
        {
            "flow_usd_a": [1.0, 5.0],
            "flow_usd_b": [1.0 + 4e-9, 5.0],
            "assets_start_usd_a": [100.0, 0.0],
            "assets_start_usd_b": [100.0, 0.0],
            "flow_pct_a": [1.0, np.nan],
            "flow_pct_b": [1.0, np.nan],
            "flow_terms": [8.0, 5.0],
            "assets_terms": [100.0, 0.0],
        }
    )
    # 4e-9 against 1e-9 x 8 (the terms, not the result 1.0): half the tolerance
    assert tol.worst_excess(frame, "_a", "_b") == pytest.approx(0.5)
    frame.loc[1, "flow_pct_a"] = 3.0  # a value where the reference has none (assets 0)
    assert tol.worst_excess(frame, "_a", "_b") == np.inf
