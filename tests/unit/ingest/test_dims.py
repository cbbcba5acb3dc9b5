"""Dimension merges (ingest/dims.py), no Spark: surrogate keys that never change, new ids
keyed in sorted order after the largest key, attribute changes detected (NULL spellings
equal), an unchanged batch changing nothing; and share classes' local index within a fund."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic.ingest import dims
from flowmosaic.tables import table

FUND_COLUMNS = table("funds").columns
ATTRS = [c for c in FUND_COLUMNS if c not in ("fund_key", "fund_id")]


def funds_batch(rows: dict[str, tuple]) -> pd.DataFrame:
    """{fund_id: (asset_class, geographic_focus, cross_border, domicile, active_passive,
    vehicle)} -> a batch as ingest hands it over (ids and attributes, no key)."""
    return pd.DataFrame([(fid, *attrs) for fid, attrs in rows.items()], columns=["fund_id", *ATTRS])


FIRST = {
    "F30": ("E", "Global", True, "LU", "A", "MF"),
    "F10": ("B", "Global", True, "US", "P", "ETF"),
    "F20": ("E", "JP", False, "JP", "A", "MF"),
}


@pytest.fixture
def first() -> dims.Merged:
    return dims.merge(None, funds_batch(FIRST), "fund_id", "fund_key", FUND_COLUMNS)


def keys(merged: dims.Merged) -> dict[str, int]:
    t = merged.table
    return dict(zip(t["fund_id"], t["fund_key"].astype(int)))


def test_first_merge_keys_new_ids_in_sorted_order(first):
    assert list(first.table.columns) == FUND_COLUMNS
    assert keys(first) == {"F10": 0, "F20": 1, "F30": 2}
    assert first.new == ["F10", "F20", "F30"] and first.updated == [] and first.changed == 3
    assert first.table["fund_key"].dtype == np.int32
    assert list(first.table["fund_key"]) == [0, 1, 2]  # the table is ordered by key
    row = first.table.set_index("fund_id").loc["F20"]
    assert (
        row["asset_class"],
        row["geographic_focus"],
        bool(row["cross_border"]),
        row["domicile"],
    ) == ("E", "JP", False, "JP")


def test_empty_existing_table_is_like_none():
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in FUND_COLUMNS})
    m = dims.merge(empty, funds_batch(FIRST), "fund_id", "fund_key", FUND_COLUMNS)
    assert keys(m) == {"F10": 0, "F20": 1, "F30": 2}


def test_keys_are_stable_new_ids_get_the_next_keys(first):
    batch = funds_batch(
        {
            "F20": ("E", "JP", False, "JP", "A", "MF"),  # unchanged
            "F10": ("B", "Global", True, "IE", "P", "ETF"),  # redomiciled
            "F05": ("M", "Global", True, "LU", "A", "MF"),  # new, sorts before the others
            "F99": ("E", "BR", False, "BR", "A", "MF"),  # new
        }
    )
    m = dims.merge(first.table, batch, "fund_id", "fund_key", FUND_COLUMNS)
    # old keys unchanged (F30 is not in the batch and stays); new ids after the largest key,
    # in sorted id order
    assert keys(m) == {"F10": 0, "F20": 1, "F30": 2, "F05": 3, "F99": 4}
    assert m.new == ["F05", "F99"] and m.updated == ["F10"] and m.changed == 3
    t = m.table.set_index("fund_id")
    assert t.loc["F10", "domicile"] == "IE"  # the update is applied
    assert t.loc["F30", "domicile"] == "LU"  # the absent id keeps its attributes
    assert t.loc["F05", "asset_class"] == "M"
    assert list(m.table["fund_key"]) == [0, 1, 2, 3, 4]
    assert m.table["fund_key"].dtype == np.int32


def test_keys_continue_after_the_largest_key_not_the_count():
    # keys need not be dense (e.g. written by an older run): the next key is max + 1
    existing = pd.DataFrame(
        {
            "fund_key": np.array([0, 7], np.int32),
            "fund_id": ["A", "B"],
            **{c: [None, None] for c in ATTRS},
        }
    )
    m = dims.merge(
        existing,
        funds_batch({"C": (None,) * 6, "A": (None,) * 6}),
        "fund_id",
        "fund_key",
        FUND_COLUMNS,
    )
    assert keys(m) == {"A": 0, "B": 7, "C": 8}
    assert m.new == ["C"] and m.updated == []


def test_unchanged_batch_changes_nothing(first):
    again = dims.merge(first.table, funds_batch(FIRST), "fund_id", "fund_key", FUND_COLUMNS)
    assert again.new == [] and again.updated == [] and again.changed == 0
    pd.testing.assert_frame_equal(
        again.table.reset_index(drop=True), first.table.reset_index(drop=True), check_dtype=False
    )
    # a subset of the ids, unchanged, changes nothing either
    sub = dims.merge(
        first.table, funds_batch({"F30": FIRST["F30"]}), "fund_id", "fund_key", FUND_COLUMNS
    )
    assert sub.changed == 0 and keys(sub) == keys(first)


def test_null_spellings_are_equal_and_a_null_that_becomes_a_value_is_an_update():
    batch = funds_batch({"F1": ("E", None, None, "LU", "A", "MF")})
    m0 = dims.merge(None, batch, "fund_id", "fund_key", FUND_COLUMNS)
    nan = funds_batch({"F1": ("E", np.nan, pd.NA, "LU", "A", "MF")})
    assert dims.merge(m0.table, nan, "fund_id", "fund_key", FUND_COLUMNS).changed == 0
    filled = funds_batch({"F1": ("E", "Global", True, "LU", "A", "MF")})
    m1 = dims.merge(m0.table, filled, "fund_id", "fund_key", FUND_COLUMNS)
    assert m1.updated == ["F1"] and m1.new == []
    assert m1.table.loc[0, "geographic_focus"] == "Global" and bool(m1.table.loc[0, "cross_border"])


def test_share_classes_key_attribute_change_of_fund():
    cols = table("share_classes").columns  # share_key, share_id, fund_key, fund_id, investor_type
    b1 = pd.DataFrame(
        {
            "share_id": ["S2", "S1"],
            "fund_key": [0, 0],
            "fund_id": ["F1", "F1"],
            "investor_type": ["Retail", "Institutional"],
        }
    )
    m1 = dims.merge(None, b1, "share_id", "share_key", cols)
    assert list(m1.table.columns) == cols
    assert dict(zip(m1.table.share_id, m1.table.share_key)) == {"S1": 0, "S2": 1}
    # S2 moves to fund 1 and becomes institutional; S3 is new
    b2 = pd.DataFrame(
        {
            "share_id": ["S2", "S3"],
            "fund_key": [1, 1],
            "fund_id": ["F2", "F2"],
            "investor_type": ["Institutional", None],
        }
    )
    m2 = dims.merge(m1.table, b2, "share_id", "share_key", cols)
    assert m2.updated == ["S2"] and m2.new == ["S3"]
    t = m2.table.set_index("share_id")
    assert t.loc["S2", "share_key"] == 1 and t.loc["S2", "fund_id"] == "F2"
    assert int(t.loc["S2", "fund_key"]) == 1 and t.loc["S2", "investor_type"] == "Institutional"
    assert t.loc["S3", "share_key"] == 2 and t.loc["S1", "fund_id"] == "F1"


def test_local_index_is_the_position_within_the_fund_by_share_key():
    sc = pd.DataFrame(
        {"share_key": [5, 1, 3, 2, 9, 0], "fund_key": [7, 7, 2, 7, 2, 4]},
        index=[10, 11, 12, 13, 14, 15],
    )  # any index, any row order
    got = dims.local_index(sc)
    # fund 7: keys 1, 2, 5 -> 0, 1, 2; fund 2: keys 3, 9 -> 0, 1; fund 4: key 0 -> 0
    assert got.dtype == np.int32
    assert got.tolist() == [2, 0, 0, 1, 1, 0]


def test_local_index_of_no_share_classes():
    sc = pd.DataFrame(
        {"share_key": pd.Series([], dtype=np.int32), "fund_key": pd.Series([], dtype=np.int32)}
    )
    assert dims.local_index(sc).tolist() == []
