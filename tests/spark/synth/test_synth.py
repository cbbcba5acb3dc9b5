"""Synthetic universe (flowmosaic.synth): determinism, accounting, layout, planted effect.

Small custom universes (24 funds x 4 months) so the module runs in well under a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowmosaic import calendar as cal
from flowmosaic import synth

START, END = dt.date(2019, 1, 1), dt.date(2019, 4, 30)
N_FUNDS = 24
MONEY = ["Flow", "AssetsStart", "AssetsEnd", "PortfolioChange", "ForexChange"]


def _countries():
    from flowmosaic.config import load_countries

    c = load_countries()
    return c.published_order, c.groups["G10"]


COUNTRIES, G10 = _countries()


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")

    def gen(name, seed=3, partitions=1, fmt="csv"):
        return synth.generate(
            spark,
            base / name,
            scale="tiny",
            seed=seed,
            fmt=fmt,
            n_funds=N_FUNDS,
            start=START,
            end=END,
            partitions=partitions,
        )

    # b: the same seed again, in another run and with another partition count
    return {
        "a": gen("a"),
        "b": gen("b", partitions=3),
        "other_seed": gen("c", seed=4, partitions=2),
        "parquet": gen("pq", partitions=2, fmt="parquet"),
    }


def _parts(summary) -> list[Path]:
    ext = "csv" if summary.fmt == "csv" else "parquet"
    return sorted(Path(summary.paths["flows"]).glob(f"part-*.{ext}"))


def _flow_text(summary) -> str:
    """All flow rows as written, part files in name order, headers removed."""
    body = []
    for p in _parts(summary):
        lines = p.read_text().splitlines()
        assert lines[0] == ",".join(synth.FLOW_COLUMNS)
        body.extend(lines[1:])
    return "\n".join(body)


def _flows(summary) -> pd.DataFrame:
    if summary.fmt == "csv":
        df = pd.concat(
            [pd.read_csv(p, dtype={c: str for c in MONEY}) for p in _parts(summary)],
            ignore_index=True,
        )
        for c in MONEY:  # exact cents from the text
            s = df[c].str.replace(".", "", regex=False)
            df[c + "_c"] = s.astype(np.int64)
            df[c] = df[c].astype(float)
        return df
    df = pd.read_parquet(summary.paths["flows"])
    df["ReportDate"] = pd.to_datetime(df["ReportDate"]).dt.strftime("%Y-%m-%d")
    return df


def _alloc(summary) -> pd.DataFrame:
    return pd.read_csv(summary.paths["allocations"], keep_default_na=False, na_values=[""])


def _funds(summary) -> pd.DataFrame:
    return pd.read_csv(summary.paths["funds"], dtype=str, keep_default_na=False)


# ------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_files_whatever_the_partitioning(runs):
    a = runs["a"]
    for other in (runs["b"],):
        for name in (
            "funds",
            "share_classes",
            "allocations",
            "returns",
            "yields",
            "external_series",
            "weekly_flows",
            "monthly_flows",
        ):
            assert Path(a.paths[name]).read_bytes() == Path(other.paths[name]).read_bytes(), name
        assert _flow_text(a) == _flow_text(other)
        assert (a.flow_rows, a.allocation_rows, a.n_share_classes) == (
            other.flow_rows,
            other.allocation_rows,
            other.n_share_classes,
        )
    assert len(_parts(runs["b"])) == 3 + 1  # the vendor model's new daily funds: a part of theirs


def test_another_seed_gives_other_data(runs):
    a, c = runs["a"], runs["other_seed"]
    assert _flow_text(a) != _flow_text(c)
    assert Path(a.paths["returns"]).read_bytes() != Path(c.paths["returns"]).read_bytes()


def test_columns_are_the_vendors(runs):
    a = runs["a"]
    assert list(_funds(a).columns) == synth.FUND_COLUMNS
    assert list(pd.read_csv(a.paths["share_classes"]).columns) == synth.SHARE_CLASS_COLUMNS
    assert list(_flows(a).columns[:8]) == synth.FLOW_COLUMNS
    assert list(pd.read_parquet(runs["parquet"].paths["flows"]).columns) == synth.FLOW_COLUMNS
    assert list(_alloc(a).columns) == [
        "ReportDate",
        "FundId",
        *COUNTRIES,
        *synth.NON_COUNTRY_COLUMNS,  # the vendor model's lines that are not countries
    ]
    assert list(pd.read_csv(a.paths["returns"], nrows=1).columns) == ["date", *COUNTRIES]
    assert list(pd.read_csv(a.paths["yields"], nrows=1).columns) == ["date", *G10]
    assert (
        list(pd.read_csv(a.paths["external_series"], nrows=1).columns)
        == synth.EXTERNAL_COLUMNS
        == ["date", "series", "country", "value", "unit", "frequency"]
    )
    assert len(COUNTRIES) == 52 and "NO" in COUNTRIES and "NO" in G10


def test_money_written_with_two_decimals(runs):
    text = _flow_text(runs["a"])
    row = re.compile(r"^\d{4}-\d\d-\d\d,S\d{7},F\d{6}(,-?\d+\.\d\d){5}$")
    bad = [line for line in text.splitlines() if not row.match(line)]
    assert not bad, bad[:3]


@pytest.mark.parametrize("run", ["a", "parquet"])
def test_accounting_identity_on_every_row(runs, run):
    df = _flows(runs[run])
    gap = df.AssetsEnd - (df.AssetsStart + df.Flow + df.PortfolioChange + df.ForexChange)
    assert gap.abs().max() <= 0.01
    if "Flow_c" in df:  # CSV: exact in cents
        assert (
            df.AssetsEnd_c == df.AssetsStart_c + df.Flow_c + df.PortfolioChange_c + df.ForexChange_c
        ).all()
    assert (df.AssetsStart > 0).all() and (df.AssetsEnd > 0).all()


def test_parquet_holds_the_same_numbers_as_csv(runs):
    a, p = _flows(runs["a"]), _flows(runs["parquet"])
    assert len(a) == len(p) == runs["a"].flow_rows
    assert (a.ReportDate.values == p.ReportDate.values).all()
    assert (a.ShareId.values == p.ShareId.values).all()
    for c in MONEY:
        assert np.allclose(a[c].values, p[c].values, rtol=0, atol=0.005)


def test_assets_carried_day_to_day_on_consecutive_flow_dates(runs):
    df = _flows(runs["a"]).sort_values(["ShareId", "ReportDate"])
    calendar = [d.isoformat() for d in cal.flow_dates(START, END)]
    pos = {d: i for i, d in enumerate(calendar)}
    assert set(df.ReportDate) <= set(calendar)
    for _, g in df.groupby("ShareId"):
        idx = g.ReportDate.map(pos).to_numpy()
        assert (np.diff(idx) == 1).all()  # reported on every flow date of its window
        assert (g.AssetsStart_c.to_numpy()[1:] == g.AssetsEnd_c.to_numpy()[:-1]).all()


def test_share_classes_per_fund(runs):
    a = runs["a"]
    sc = pd.read_csv(a.paths["share_classes"])
    funds = _funds(a)
    counts = sc.groupby("FundId").size()
    assert set(counts.index) == set(funds.FundId)
    assert counts.between(1, 6).all()
    assert sc.ShareId.is_unique and set(sc.InvestorType) <= {"Institutional", "Retail"}
    flows = _flows(a)
    pairs = flows[["ShareId", "FundId"]].drop_duplicates()
    # every share class of a daily reporter is in the daily file (weekly and monthly
    # reporters' are not: test_synth_vendor.py)
    assert set(pairs.ShareId) == set(sc.ShareId[sc.FundId.isin(set(flows.FundId))])
    merged = pairs.merge(sc, on="ShareId", suffixes=("", "_sc"))
    assert (merged.FundId == merged.FundId_sc).all()
    # all share classes of a fund report on the same days
    per = flows.groupby("FundId").agg(
        rows=("ShareId", "size"), sc=("ShareId", "nunique"), days=("ReportDate", "nunique")
    )
    assert (per.rows == per.sc * per.days).all()


def test_fund_attributes(runs):
    f = _funds(runs["a"])
    assert f.FundId.is_unique
    assert set(f.AssetClass) <= {"E", "B", "M"}
    assert set(f.CrossBorder) <= {"true", "false"}
    assert set(f.ActivePassive) <= {"A", "P"} and set(f.Vehicle) <= {"ETF", "MF"}
    single = f[f.CrossBorder == "false"]
    assert single.GeographicFocus.isin(COUNTRIES).all()
    xb = f[f.CrossBorder == "true"]
    assert xb.GeographicFocus.isin(list(synth.FOCUS)).all()
    assert f.Domicile.str.fullmatch(r"[A-Z]{2}").all()


def test_allocations(runs):
    a = runs["a"]
    al = _alloc(a)
    funds = _funds(a)
    vals = al[list(COUNTRIES)]
    assert ((vals >= 0) & (vals <= 100) | vals.isna()).all().all()
    sums = vals.sum(axis=1)
    assert (sums <= 100).all() and (sums >= 85).all()
    assert vals.isna().any(axis=1).any()  # blanks where 0
    # every cross-border fund but the daily reporters without allocations (vendor model)
    flows = _flows(a)
    xb = set(funds.FundId[funds.CrossBorder == "true"])
    no_alloc = xb - set(al.FundId)
    assert set(al.FundId) <= xb and no_alloc and no_alloc <= set(flows.FundId)
    assert (
        len(no_alloc)
        == json.loads(Path(a.paths["manifest"]).read_text())["n_reporters"][
            "daily_without_allocations"
        ]
    )
    dates = pd.to_datetime(al.ReportDate)
    assert (dates + pd.offsets.MonthEnd(0) == dates).all()  # month ends
    assert not al.duplicated(["ReportDate", "FundId"]).any()
    # every month the fund reports, from 2 months before its first flow date (the daily
    # reporters, whose reporting window the daily file shows)
    span = flows.groupby("FundId").ReportDate.agg(["min", "max"])
    for fund, g in al[al.FundId.isin(set(flows.FundId))].groupby("FundId"):
        first = cal.add_months(cal.month_start(dt.date.fromisoformat(span.loc[fund, "min"])), -2)
        last = cal.month_start(dt.date.fromisoformat(span.loc[fund, "max"]))
        want = []
        m = first
        while m <= last:
            want.append(cal.month_end(m).isoformat())
            m = cal.add_months(m, 1)
        assert list(g.ReportDate) == want, fund
    # the 23rd rule finds a snapshot for every flow date of every cross-border fund
    have = set(zip(al.FundId, al.ReportDate))
    xb_rows = flows[flows.FundId.isin(set(al.FundId))][["FundId", "ReportDate"]].drop_duplicates()
    for fund, d in xb_rows.itertuples(index=False):
        am = cal.month_end(cal.alloc_month(dt.date.fromisoformat(d))).isoformat()
        assert (fund, am) in have


def test_the_long_tail_of_destinations_adds_columns_and_changes_nothing_else(spark, runs, tmp_path):
    """tail_countries > 0 (the large scale's 140): active cross-border funds also hold
    destinations beyond the 52, out of their uninvested rest; every other byte is the same."""
    a = runs["a"]
    t = synth.generate(
        spark,
        tmp_path / "tail",
        scale="tiny",
        seed=3,
        fmt="csv",
        n_funds=N_FUNDS,
        start=START,
        end=END,
        partitions=1,
        tail_countries=30,
    )
    tail = synth.tail_destinations(3, 30)
    for name in ("funds", "share_classes", "returns", "yields"):
        assert Path(t.paths[name]).read_bytes() == Path(a.paths[name]).read_bytes(), name
    assert _flow_text(t) == _flow_text(a)
    al, base = _alloc(t), _alloc(a)
    lines = list(synth.NON_COUNTRY_COLUMNS)
    assert list(al.columns) == ["ReportDate", "FundId", *COUNTRIES, *tail, *lines]
    pd.testing.assert_frame_equal(al[base.columns.drop(lines)], base.drop(columns=lines))
    held = al[list(tail)]
    assert held.notna().any().sum() == t.n_tail_destinations > 0
    assert t.n_destinations == (al[list(COUNTRIES) + list(tail)].notna().any()).sum()
    assert (held.fillna(1) >= 0.0001).all().all()
    assert (al[list(COUNTRIES) + list(tail)].sum(axis=1) <= 100.0 + 1e-9).all()
    # the non-country lines fit in what the tail leaves: no row above 100 (in 0.0001 units)
    units = np.rint(al[list(COUNTRIES) + list(tail) + lines].fillna(0).to_numpy() * 1e4)
    assert (units.sum(axis=1) <= 1_000_000).all()
    assert (al[lines].fillna(0) <= base[lines].fillna(0) + 1e-9).all().all()
    # only active cross-border funds of a focus with a tail rate hold tail destinations
    funds = _funds(t).set_index("FundId")
    holders = funds.loc[sorted(set(al.FundId[held.notna().any(axis=1)]))]
    assert (holders.ActivePassive == "A").all()
    assert holders.GeographicFocus.isin(list(synth.TAIL_RATE)).all()
    # a fund holds the same tail destinations every month
    assert (held.notna().groupby(al.FundId).nunique() <= 1).all().all()


def test_tail_destinations_are_outside_the_52_frontier_first():
    from flowmosaic.config import load_countries

    cs = load_countries()
    tail = synth.tail_destinations(7, 140)
    assert len(set(tail)) == 140 and not set(tail) & set(COUNTRIES)
    assert set(tail) <= set(cs.destinations) and not set(tail) & synth.NO_MARKET
    kinds = [cs.markets[c] == "frontier" for c in tail]
    assert kinds == sorted(kinds, reverse=True) and kinds[0] and not kinds[-1]
    assert synth.tail_destinations(7, 140) == tail != synth.tail_destinations(8, 140)
    with pytest.raises(ValueError, match="outside the 52"):
        synth.tail_destinations(7, len(cs.destinations))
    pct = np.array([[60.0, 35.0], [50.0, 45.5]])
    got = synth.tail_pct(pct, np.array([0.25, 0.75]), 0.5)
    # rest 5 and 4.5, half of it split 1:3, rounded down to 4 decimals
    np.testing.assert_allclose(got, [[0.625, 1.875], [0.5625, 1.6875]])


def test_market_files_cover_all_weekdays(runs):
    a = runs["a"]
    weekdays = [
        cal.to_yyyymmdd(START + dt.timedelta(days=i))
        for i in range((END - START).days + 1)
        if (START + dt.timedelta(days=i)).weekday() < 5
    ]
    ret = pd.read_csv(a.paths["returns"], dtype={"date": str}, keep_default_na=False)
    yl = pd.read_csv(a.paths["yields"], dtype={"date": str}, keep_default_na=False)
    for df, cols in ((ret, COUNTRIES), (yl, G10)):
        assert list(df.date) == weekdays
        assert np.isfinite(df[list(cols)].to_numpy(dtype=float)).all()
    assert (ret.loc[ret.date == "20190101", list(COUNTRIES)] == 0).all().all()
    assert ret[list(COUNTRIES)].abs().max().max() < 25
    assert yl[list(G10)].abs().max().max() < 8


def test_manifest_and_summary(runs):
    a = runs["a"]
    m = json.loads(Path(a.paths["manifest"]).read_text())
    assert m["seed"] == 3 and m["scale"] == "tiny" and m["effect"] == m["bond_effect"] == 1.0
    assert m["start"] == "2019-01-02" and m["end"] == "2019-04-30"
    assert m["flow_rows"] == len(_flows(a)) == a.flow_rows
    assert m["allocation_rows"] == len(_alloc(a))
    assert m["n_share_classes"] == len(pd.read_csv(a.paths["share_classes"]))
    # the mosaic scenario (on by default) adds its launched funds and its hedging plant to
    # the requested ones; the vendor model its weekly, monthly and daily reporters
    groups = m["mosaic_scenario"]["groups"]
    launched = groups["foreign_into_jp"]["funds"]
    plant = groups["us_bond_hedging_switch"]["funds"]
    assert m["mosaic"] is True and m["n_scenario_funds"] == len(launched) + len(plant) == 1 + 2
    r = m["n_reporters"]
    new = r["daily_without_allocations"] + r["weekly_only"] + r["monthly_only"]
    assert (r["daily_without_allocations"], r["weekly_only"], r["monthly_only"]) == (2, 3, 6)
    assert m["n_funds"] == len(_funds(a)) == N_FUNDS + 1 + 2 + new
    assert m["vendor_model"] is True and m["weekly_rows"] > 0 and m["monthly_rows"] > 0
    assert m["external_series"]["path"] == "market/external_series.csv"
    text = a.describe()
    assert f"{a.flow_rows:,} rows" in text and "2019-01-02 .. 2019-04-30" in text


# ------------------------------------------------------------------------------------------
def test_planted_effect_is_exactly_the_documented_term():
    seed, start, end = 5, dt.date(2019, 1, 1), dt.date(2020, 6, 30)
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(52), size=30) * 0.95
    mix = synth.mixing_matrix(w, np.exp(rng.normal(19, 1.5, 30)))
    m0 = synth.simulate_market(seed, COUNTRIES, G10, start, end, 0.0, mix, mix)
    m1 = synth.simulate_market(seed, COUNTRIES, G10, start, end, 1.0, mix, mix)
    # s(c, t-3) from the mixed, 20-row compounded latent factor, z-scored across countries
    n = len(m0["flow_dates"])
    latent = synth.simulate_latent(seed, n, 52)
    s = synth.flow_signal(latent, mix)
    lagged = s[synth.BURN_IN - 3 : synth.BURN_IN - 3 + n]
    assert np.allclose(m1["s_equity"], lagged)
    assert np.allclose(lagged.mean(axis=1), 0) and np.allclose(lagged.std(axis=1), 1)
    assert np.allclose(m1["returns_flow"] - m0["returns_flow"], synth.K_RET * lagged)
    gi = [COUNTRIES.index(c) for c in G10]
    assert np.allclose(
        m1["s_bond"],
        synth.zscore_rows(synth.compounded(latent @ mix.T)[:, gi])[
            synth.BURN_IN - 3 : synth.BURN_IN - 3 + n
        ],
    )
    dy0, dy1 = np.diff(m0["yields_flow"], axis=0), np.diff(m1["yields_flow"], axis=0)
    for j in range(len(G10)):  # high inflow -> yield falls (up to the weak pull to the mean)
        assert np.corrcoef((dy1 - dy0)[:, j], m1["s_bond"][1:, j])[0, 1] < -0.9
    # effect 0: the signal does not predict; effect 1: it does, positively
    r0, r1 = m0["returns_flow"], m1["returns_flow"]
    c0 = np.mean([np.corrcoef(lagged[t], r0[t])[0, 1] for t in range(n)])
    c1 = np.mean([np.corrcoef(lagged[t], r1[t])[0, 1] for t in range(n)])
    assert abs(c0) < 0.02 and c1 > 0.03


def test_bond_effect_sets_the_yields_strength_alone():
    start, end = dt.date(2019, 1, 1), dt.date(2019, 12, 31)
    args = (5, COUNTRIES, G10, start, end)
    m0, m1 = synth.simulate_market(*args, 0.0), synth.simulate_market(*args, 1.0)
    split = synth.simulate_market(*args, 1.0, bond_effect=0.0)
    assert np.array_equal(split["returns"], m1["returns"])
    assert np.array_equal(split["yields"], m0["yields"])
    assert not np.array_equal(m0["yields"], m1["yields"])
    # the demo's scale sets them apart; an explicit effect sets both (tests, --effect)
    small = synth.SCALES["small"]
    assert small.bond_effect is not None and small.bond_effect != small.effect
    assert synth.SCALES["tiny"].bond_effect is None


def test_mixing_matrix():
    w = np.array([[0.5, 0.5, 0.0], [0.0, 0.9, 0.0]])
    m = synth.mixing_matrix(w, np.array([1.0, 3.0]))
    assert np.allclose(m[0], [0.5, 0.5, 0.0])  # only fund 0 holds country 0
    assert np.allclose(m[1], (0.5 * np.array([0.5, 0.5, 0]) + 2.7 * np.array([0, 0.9, 0])) / 3.2)
    assert np.allclose(m[2], [0, 0, 1])  # nobody holds it: identity


def test_ar1_matches_the_recursion():
    x = synth._ar1(synth._rng(1, 2), 150, 3, 0.9, 0.5)
    r = synth._rng(1, 2)
    eps = r.standard_normal((150, 3)) * 0.5 * np.sqrt(1 - 0.81)
    eps[0] = r.standard_normal(3) * 0.5
    ref = np.empty_like(eps)
    ref[0] = eps[0]
    for t in range(1, 150):
        ref[t] = 0.9 * ref[t - 1] + eps[t]
    assert np.allclose(x, ref, atol=1e-12)


def test_tiny_scale_defaults(spark, tmp_path):
    s = synth.generate(spark, tmp_path / "tiny", scale="tiny", seed=1)
    r = s.n_reporters
    new = r["daily_without_allocations"] + r["weekly_only"] + r["monthly_only"]
    assert s.n_funds == 80 + s.n_scenario_funds + new and s.n_scenario_funds == 1 + 2
    assert (r["daily_without_allocations"], r["weekly_only"], r["monthly_only"]) == (4, 8, 20)
    assert s.fmt == "csv" and s.effect == 1.0 and s.mosaic
    assert s.start == "2019-01-02" and s.end == "2020-12-31"
    assert s.n_share_classes >= 80 and s.flow_rows > 50_000
    print(s.describe())


def test_bad_arguments(spark, tmp_path):
    with pytest.raises(ValueError, match="unknown scale"):
        synth.generate(spark, tmp_path, scale="huge")
    with pytest.raises(ValueError, match="fmt"):
        synth.generate(spark, tmp_path, fmt="json")
