"""Allocation lines that are not countries in the synthetic universe (flowmosaic.synth:
non_country.py): Cash, Other and Supranational columns after the country columns, taken out of
each row's uninvested rest, so that the country columns, the flows and the market are byte for
byte those of the same universe with the lines switched off (non_country_lines=False).

A custom tiny universe (60 funds over 2019), lines on and off, and the same with Parquet flows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowmosaic import synth
from flowmosaic.config import line_label, load_countries

START, END = dt.date(2019, 1, 1), dt.date(2019, 12, 31)
LINES = list(synth.NON_COUNTRY_COLUMNS)
COUNTRIES = list(load_countries().published_order)
SAME = (
    "funds",
    "share_classes",
    "returns",
    "yields",
    "external_series",
    "weekly_flows",
    "monthly_flows",
)


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("non_country")

    def gen(name, **kw):
        return synth.generate(
            spark,
            base / name,
            scale="tiny",
            seed=5,
            n_funds=60,
            start=START,
            end=END,
            partitions=2,
            **kw,
        )

    return {
        "on": gen("on"),
        "off": gen("off", non_country_lines=False),
        "parquet": gen("pq", fmt="parquet"),
    }


def _alloc(summary) -> pd.DataFrame:
    return pd.read_csv(summary.paths["allocations"], keep_default_na=False, na_values=[""])


def _manifest(summary) -> dict:
    return json.loads(Path(summary.paths["manifest"]).read_text())


def _flow_text(summary) -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(summary.paths["flows"]).glob("part-*"))]


# ------------------------------------------------------------------------------------------
def test_the_columns_are_lines_ingest_keeps_apart():
    """Each column is a spelling of conf/destinations.yaml's non_country of its kind, so ingest
    stores it in fund_allocations_other, never in a country."""
    nc = load_countries().non_country
    cs = load_countries().destinations
    for col in LINES:
        assert col.upper() not in cs
        assert nc[line_label(col)] == synth.NON_COUNTRY_KIND[col]


def test_switched_off_every_other_byte_is_the_same(runs):
    on, off = runs["on"], runs["off"]
    for name in SAME:
        assert Path(on.paths[name]).read_bytes() == Path(off.paths[name]).read_bytes(), name
    assert _flow_text(on) == _flow_text(off)
    # allocations: each line is the line without them, then the three values
    a = Path(off.paths["allocations"]).read_text().splitlines()
    b = Path(on.paths["allocations"]).read_text().splitlines()
    assert len(a) == len(b) == on.allocation_rows + 1
    assert b[0] == a[0] + "," + ",".join(LINES)
    for x, y in zip(a, b):
        assert y.startswith(x + ",") and y[len(x) :].count(",") == 3, (x, y)
    al, base = _alloc(on), _alloc(off)
    assert list(al.columns) == ["ReportDate", "FundId", *COUNTRIES, *LINES]
    pd.testing.assert_frame_equal(al.drop(columns=LINES), base)
    assert (on.allocation_rows, on.n_destinations) == (off.allocation_rows, off.n_destinations)
    assert on.non_country and not off.non_country and off.non_country_lines == {}
    assert not _manifest(off)["non_country_lines"]["enabled"]


def test_lines_lie_in_the_uninvested_rest(runs):
    al = _alloc(runs["on"])
    units = np.rint(al[COUNTRIES + LINES].fillna(0).to_numpy() * 1e4).astype(np.int64)
    assert (units.sum(axis=1) <= 1_000_000).all()  # never above 100 (ingest: 100.5)
    vals = al[LINES]
    assert ((vals >= 0.0001) | vals.isna()).all().all()  # blank, never 0
    for col in LINES:
        assert (vals[col].dropna() <= synth.LINE_MAX[col]).all(), col
    # most rows hold cash, some Other, Supranational only bond funds'
    assert vals.Cash.notna().mean() > 0.6
    assert 0.05 < vals.Other.notna().mean() < 0.6
    funds = pd.read_csv(runs["on"].paths["funds"], dtype=str).set_index("FundId")
    ac = funds.AssetClass.loc[al.FundId].to_numpy()
    assert vals.Supranational.notna().any() and (ac[vals.Supranational.notna()] == "B").all()
    assert vals.Cash.mean() < 3 and vals.Other.mean() < 2
    # a fund carries a line or not: blank in some months only where the rest runs out
    held = vals.notna().groupby(al.FundId).mean()
    assert ((held == 0) | (held == 1)).mean().mean() > 0.9


def test_manifest_counts_match_the_file(runs):
    on = runs["on"]
    al = _alloc(on)
    by_kind = _manifest(on)["non_country_lines"]["by_kind"]
    assert by_kind == on.non_country_lines
    assert set(by_kind) == {"cash", "other", "supranational"}
    for kind, rec in by_kind.items():
        col = rec["column"]
        assert synth.NON_COUNTRY_KIND[col] == kind
        assert rec["lines"] == al[col].notna().sum() > 0
        assert rec["mean_pct"] == pytest.approx(al[col].mean(), abs=5e-5)
    assert f"{by_kind['cash']['lines']:,} cash lines" in on.describe()


def test_parquet_flows_the_same_allocations(runs):
    on, pq = runs["on"], runs["parquet"]
    assert Path(on.paths["allocations"]).read_bytes() == Path(pq.paths["allocations"]).read_bytes()
    assert on.non_country_lines == pq.non_country_lines


def test_fit_lines_rounds_down_and_scales_into_the_rest():
    held = np.array([[50.0, 45.0], [60.0, 39.99], [99.0, np.nan], [100.0, np.nan]])
    want = np.array([[1.23456, 2.0, 0.0], [0.5, 0.5, 0.0], [3.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
    got = synth.fit_lines(want, held)
    # row 0 fits (rest 5), rounded down, 0 blank; row 1: rest 0.01 split 1:1; row 2: rest 1
    # split 3:1:2, rounded down; row 3: no rest
    expect = np.array(
        [
            [1.2345, 2.0, np.nan],
            [0.005, 0.005, np.nan],
            [0.5, 0.1666, 0.3333],
            [np.nan, np.nan, np.nan],
        ]
    )
    np.testing.assert_allclose(got, expect, equal_nan=True)
    total = np.rint(np.nan_to_num(got) * 1e4).sum(axis=1) + np.rint(np.nan_to_num(held) * 1e4).sum(
        axis=1
    )
    assert (total <= 1_000_000).all()
