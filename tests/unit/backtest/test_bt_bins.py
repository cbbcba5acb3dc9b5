"""Quantile bins (section 5 step 7) and bin returns (step 8), derived by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic.backtest import bins as binning

D = pd.DatetimeIndex([pd.Timestamp("2022-02-04")], name="date")


@pytest.mark.parametrize(
    "n_names, sizes",
    [
        (10, [2, 2, 2, 2, 2]),  # 2, 4, 6, 8 exactly
        (43, [9, 8, 9, 8, 9]),  # 8.6, 17.2, 25.8, 34.4 -> 9, 17, 26, 34
        (17, [3, 4, 3, 4, 3]),  # 3.4, 6.8, 10.2, 13.6 -> 3, 7, 10, 14
        (9, [2, 2, 1, 2, 2]),  # 1.8, 3.6, 5.4, 7.2 -> 2, 4, 5, 7
        (4, [1, 1, 0, 1, 1]),  # 0.8, 1.6, 2.4, 3.2 -> 1, 2, 2, 3
        (1, [0, 0, 1, 0, 0]),  # 0.2, 0.4, 0.6, 0.8 -> 0, 0, 1, 1
        (0, [0, 0, 0, 0, 0]),
    ],
)
def test_bin_sizes_round_half_down(n_names, sizes):
    assert binning.bin_sizes(n_names, 5) == sizes
    # the same sizes come out of assign_bins on a row of distinct values
    sig = pd.DataFrame(
        [np.arange(n_names, 0, -1, dtype=float)], index=D, columns=[f"C{i}" for i in range(n_names)]
    )
    got = binning.assign_bins(sig, 5).iloc[0]
    assert [int((got == q).sum()) for q in range(1, 6)] == sizes
    assert got.is_monotonic_increasing  # descending signal -> bins 1..5 in order


def test_exact_halves_round_down():
    assert binning.bin_sizes(5, 2) == [2, 3]  # 2.5 -> 2
    assert binning.bin_sizes(15, 10) == [1, 2] * 5  # 1.5 -> 1, 4.5 -> 4, ...
    assert binning.bin_sizes(3, 2) == [1, 2]  # 1.5 -> 1


def test_ties_keep_column_order():
    sig = pd.DataFrame([[1.0, 2.0, 2.0, 1.0, 3.0]], index=D, columns=list("ABCDE"))
    # descending, stable: E(3) B(2) C(2) A(1) D(1); five names -> one per bin
    got = binning.assign_bins(sig, 5).iloc[0]
    assert got.to_dict() == {"A": 4.0, "B": 2.0, "C": 3.0, "D": 5.0, "E": 1.0}


def test_missing_signal_or_return_is_not_binned():
    sig = pd.DataFrame([[5.0, np.nan, 3.0, 2.0, 1.0, 0.0]], index=D, columns=list("ABCDEF"))
    valid = np.array([[True, True, True, False, True, True]])  # D has no return
    got = binning.assign_bins(sig, 5, valid=valid).iloc[0]
    # binned: A(5) C(3) E(1) F(0): N = 4 -> sizes 1,1,0,1,1
    assert np.isnan(got["B"]) and np.isnan(got["D"])
    assert [got["A"], got["C"], got["E"], got["F"]] == [1.0, 2.0, 4.0, 5.0]


def test_each_row_is_binned_on_its_own():
    sig = pd.DataFrame(
        [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, np.nan, 1.0]],
        index=pd.DatetimeIndex(["2022-02-04", "2022-02-11"]),
        columns=list("ABCD"),
    )
    got = binning.assign_bins(sig, 2)
    # row 1: N=4 -> 2,2: D,C in bin 1; row 2: N=3 -> 1.5 rounds down -> sizes 1,2
    assert got.iloc[0].tolist() == [2.0, 2.0, 1.0, 1.0]
    assert got.iloc[1].tolist()[:2] == [1.0, 2.0] and got.iloc[1]["D"] == 2.0


def test_bin_returns_by_hand():
    bins = pd.DataFrame([[1, 1, 2, 2, np.nan]], index=D, columns=list("ABCDE"), dtype=float)
    r = pd.DataFrame([[1.0, 2.0, 3.0, 6.0, 7.0]], index=D, columns=list("ABCDE"))
    got = binning.bin_returns(bins, r, 2).iloc[0]
    # uRet: every country with a return, binned or not: (1+2+3+6+7)/5 = 3.8
    assert got["uRet"] == pytest.approx(3.8)
    assert got["Q1"] == pytest.approx(((1 - 3.8) + (2 - 3.8)) / 2)  # -2.3
    assert got["Q2"] == pytest.approx(((3 - 3.8) + (6 - 3.8)) / 2)  # 0.7
    assert got["TxB"] == pytest.approx(-3.0)


def test_empty_bin_gives_missing_return():
    bins = pd.DataFrame([[1, 2, 4, 5]], index=D, columns=list("ABCD"), dtype=float)
    r = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], index=D, columns=list("ABCD"))
    got = binning.bin_returns(bins, r, 5).iloc[0]
    assert np.isnan(got["Q3"])
    assert got["TxB"] == pytest.approx((1 - 2.5) - (4 - 2.5))
