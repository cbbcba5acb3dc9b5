"""The vendor's data model in the synthetic universe (flowmosaic.synth: currencies.py,
reporters.py, periodic.py, hedging.py), checked on the raw files with pandas.

Two runs of the tiny scale at seed 7 (the figures docs/synthetic-calibration.md quotes): the
default (vendor model and mosaic scenario on) and the same without the vendor model, whose
files must be the first's existing rows byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowmosaic import calendar as cal
from flowmosaic import synth
from flowmosaic.config import load_currencies

MONEY = ["Flow", "AssetsStart", "AssetsEnd", "PortfolioChange", "ForexChange"]
OFFSHORE = {"LU", "IE", "KY"}


class Raw:
    """One run's raw files; money as exact int64 cents."""

    def __init__(self, root: Path):
        self.root = root
        self.manifest = json.loads((root / "manifest.json").read_text())
        self.funds = pd.read_csv(root / "funds.csv", dtype=str, keep_default_na=False)
        self.sc = pd.read_csv(root / "share_classes.csv", dtype=str, keep_default_na=False)
        self.parts = sorted((root / "flows").glob("part-*.csv"))
        self.daily = pd.concat([_cents(pd.read_csv(p, dtype=str)) for p in self.parts])
        self.alloc = pd.read_csv(root / "allocations.csv", keep_default_na=False, na_values=[""])

    def periodic(self, freq: str) -> pd.DataFrame:
        return _cents(pd.read_csv(self.root / f"{freq}_flows.csv", dtype=str))

    @property
    def window(self) -> tuple[str, str]:
        w = self.manifest["mosaic_scenario"]["window"]
        return w["start"], w["end"]


def _cents(df: pd.DataFrame) -> pd.DataFrame:
    for c in MONEY:
        df[c] = df[c].str.replace(".", "", regex=False).astype(np.int64)
    return df.reset_index(drop=True)


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory) -> dict[str, Raw]:
    base = tmp_path_factory.mktemp("vendor")
    out = {}
    for name, vendor in (("on", True), ("off", False)):
        s = synth.generate(spark, base / name, scale="tiny", seed=7, vendor_model=vendor)
        out[name] = Raw(Path(s.out))
    return out


def _reports(raw: Raw) -> pd.Series:
    """FundId -> daily / weekly / monthly, from the files."""
    weekly = set(raw.periodic("weekly").FundId)
    daily = set(raw.daily.FundId)
    return raw.funds.FundId.map(
        lambda f: "daily" if f in daily else "weekly" if f in weekly else "monthly"
    ).set_axis(raw.funds.FundId)


# ------------------------------------------------------------------------------------------
def test_the_existing_files_are_unchanged_by_the_vendor_model(runs):
    on, off = runs["on"], runs["off"]
    # the daily flows: the same part files, the new daily reporters' in a part after them
    assert len(on.parts) == len(off.parts) + 1
    for a, b in zip(off.parts, on.parts):
        assert a.read_bytes() == b.read_bytes()
    new = set(pd.read_csv(on.parts[-1], dtype=str).FundId)
    assert min(new) > max(off.funds.FundId)
    # funds and allocations: the existing rows first, byte for byte; allocations' lines each
    # followed by the lines that are not countries (the vendor model's too)
    a, b = (off.root / "funds.csv").read_bytes(), (on.root / "funds.csv").read_bytes()
    assert len(b) > len(a) and b.startswith(a)
    a_lines = (off.root / "allocations.csv").read_text().splitlines()
    b_lines = (on.root / "allocations.csv").read_text().splitlines()
    assert len(b_lines) > len(a_lines)
    assert b_lines[0] == a_lines[0] + "," + ",".join(synth.NON_COUNTRY_COLUMNS)
    for x, y in zip(a_lines, b_lines):
        assert y.startswith(x + ",") and y[len(x) :].count(",") == 3, (x, y)
    assert not off.manifest["non_country_lines"]["enabled"]
    # share classes: the same rows, two more columns
    pd.testing.assert_frame_equal(on.sc.iloc[: len(off.sc), :3], off.sc)
    assert list(on.sc.columns) == synth.SHARE_CLASS_COLUMNS
    assert list(off.sc.columns) == synth.SHARE_CLASS_COLUMNS[:3]
    for name in ("returns_daily.csv", "yields_10y.csv", "external_series.csv"):
        assert (on.root / "market" / name).read_bytes() == (off.root / "market" / name).read_bytes()
    assert not (off.root / "weekly_flows.csv").exists()
    assert not (off.root / "monthly_flows.csv").exists()
    assert off.manifest["reporter_mix"] == {"enabled": False}
    # the scenario's groups among the existing funds are the same
    g_on = on.manifest["mosaic_scenario"]["groups"]
    g_off = off.manifest["mosaic_scenario"]["groups"]
    for name in ("jp_retail_outflow", "foreign_into_jp", "us_bond_weight_drift"):
        assert g_on[name] == g_off[name]
    assert "us_bond_hedging_switch" not in g_off


def test_new_funds_get_ids_after_the_existing_ones_and_report_one_way(runs):
    on, off = runs["on"], runs["off"]
    rep = _reports(on)
    new = on.funds.FundId[~on.funds.FundId.isin(off.funds.FundId)]
    assert new.min() > off.funds.FundId.max()
    m = on.manifest
    counts = m["n_reporters"]
    assert (rep == "weekly").sum() == counts["weekly_only"] == 8
    assert (rep == "monthly").sum() == counts["monthly_only"] == 20
    assert (rep == "daily").sum() == counts["daily_reporters"] == len(off.funds) + 4 + 2
    assert m["n_funds"] == len(on.funds) == len(off.funds) + 4 + 2 + 8 + 20
    # every new fund reports in one file only at its finest frequency: weekly-only ones are
    # not in the daily file, monthly-only ones in neither the daily nor the weekly one
    weekly = on.periodic("weekly")
    assert set(weekly.FundId) == set(rep.index[rep == "weekly"])
    assert not set(weekly.FundId) & set(on.daily.FundId)
    # the monthly file is the superset: every fund with a full month
    monthly = on.periodic("monthly")
    assert set(monthly.FundId) == set(on.funds.FundId)
    # daily reporters without allocations: cross-border funds of the daily file, no allocations
    funds = on.funds.set_index("FundId")
    xb_daily = set(on.daily.FundId) & set(funds.index[funds.CrossBorder == "true"])
    no_alloc = xb_daily - set(on.alloc.FundId)
    assert len(no_alloc) == counts["daily_without_allocations"] == 4
    assert min(no_alloc) > off.funds.FundId.max()
    # the weekly and monthly reporters' cross-border funds publish allocations
    periodic_xb = set(rep.index[rep != "daily"]) & set(funds.index[funds.CrossBorder == "true"])
    assert periodic_xb and periodic_xb <= set(on.alloc.FundId)
    assert (funds.loc[list(rep.index[rep != "daily"]), "CrossBorder"] == "false").any()


@pytest.mark.parametrize("freq", ["weekly", "monthly"])
def test_period_files_dates_and_identity(runs, freq):
    raw = runs["on"]
    df = raw.periodic(freq)
    assert list(df.columns) == synth.FLOW_COLUMNS and len(df)
    assert raw.manifest[f"{freq}_rows"] == len(df)
    dates = pd.to_datetime(df.ReportDate)
    if freq == "weekly":
        assert (dates.dt.dayofweek == 2).all()  # Wednesdays
    else:
        assert dates.dt.is_month_end.all()
    assert dates.min() >= pd.Timestamp("2019-01-02") and dates.max() <= pd.Timestamp("2020-12-31")
    assert not df.duplicated(["ShareId", "ReportDate"]).any()
    assert (df.AssetsEnd == df.AssetsStart + df.Flow + df.PortfolioChange + df.ForexChange).all()
    assert (df.AssetsStart > 0).all() and (df.AssetsEnd > 0).all()
    # a share class reports every period from its first to its last (full periods: a fund's
    # reporting window is one stretch of flow dates), carrying its assets from one to the next
    df = df.sort_values(["ShareId", "ReportDate"])
    if freq == "weekly":
        pos = (dates - pd.Timestamp("2019-01-02")).dt.days // 7
    else:
        pos = dates.dt.year * 12 + dates.dt.month
    df = df.assign(pos=pos.loc[df.index])
    same = df.ShareId.eq(df.ShareId.shift())
    assert (df.pos.diff()[same] == 1).all()
    assert (df.AssetsStart[same] == df.AssetsEnd.shift()[same]).all()
    # the first period is whole: a week from Thursday, a month from its first day
    first = pd.to_datetime(df.ReportDate[~same]).min()
    if freq == "weekly":
        assert (first - pd.Timedelta(days=6)).date() >= dt.date(2019, 1, 1)
        assert cal.period_end(first.date(), "weekly") == first.date()


def test_daily_reporters_monthly_rows_are_the_sums_of_their_days(runs):
    raw = runs["on"]
    daily = raw.daily.assign(month=raw.daily.ReportDate.str[:7])
    calendar = pd.Series(
        {
            f"{y}-{m:02d}": len(cal.flow_dates(dt.date(y, m, 1), cal.month_end(dt.date(y, m, 1))))
            for y in (2019, 2020)
            for m in range(1, 13)
        }
    )
    g = daily.sort_values("ReportDate").groupby(["ShareId", "month"])
    sums = g.agg(
        FundId=("FundId", "first"),
        days=("ReportDate", "size"),
        Flow=("Flow", "sum"),
        PortfolioChange=("PortfolioChange", "sum"),
        ForexChange=("ForexChange", "sum"),
        AssetsStart=("AssetsStart", "first"),
        AssetsEnd=("AssetsEnd", "last"),
    ).reset_index()
    full = sums[sums.days == sums.month.map(calendar)].drop(columns="days")
    assert len(full) < len(sums)  # some months are cut (late starts, early stops)
    monthly = raw.periodic("monthly")
    monthly = monthly[monthly.ShareId.isin(set(daily.ShareId))]
    got = monthly.assign(month=monthly.ReportDate.str[:7]).drop(columns="ReportDate")
    cols = ["ShareId", "month", "FundId", *MONEY]
    pd.testing.assert_frame_equal(
        got[cols].sort_values(["ShareId", "month"]).reset_index(drop=True),
        full[cols].sort_values(["ShareId", "month"]).reset_index(drop=True),
    )


def test_currencies_and_hedge_flags(runs):
    raw = runs["on"]
    sc = raw.sc.merge(raw.funds, on="FundId")
    known = set(load_currencies())
    assert sc.Currency.str.fullmatch(r"[A-Z]{3}").all() and set(sc.Currency) <= known
    assert set(sc.Hedged) == {"true", "false"}
    # the base currency is share class 1's; base-currency classes are never hedged
    first = sc.ShareId.str[-1] == "1"
    base = sc[first].set_index("FundId").Currency
    in_base = sc.Currency == sc.FundId.map(base)
    assert (sc.Hedged[in_base] == "false").all()
    assert (sc.Hedged[~in_base] == "true").any() and (sc.Hedged[~in_base] == "false").any()
    # realistic by domicile
    assert (sc.Currency[sc.Domicile == "US"] == "USD").all()
    plant = set(raw.manifest["mosaic_scenario"]["groups"]["us_bond_hedging_switch"]["funds"])
    usual = sc[~sc.FundId.isin(plant)]
    jp_base = usual[(usual.ShareId.str[-1] == "1") & (usual.Domicile == "JP")]
    assert len(jp_base) and (jp_base.Currency == "JPY").all()
    assert set(usual[usual.Domicile.isin(["LU", "IE"])].Currency) >= {"EUR", "USD"}
    # bond funds' foreign classes are hedged more often than equity funds'
    foreign = sc[~in_base & ~sc.FundId.isin(plant)]
    rate = (foreign.Hedged == "true").groupby(foreign.AssetClass).mean()
    assert rate["B"] > rate["E"]


def test_reporter_mix_in_the_manifest_is_the_monthly_files(runs):
    raw = runs["on"]
    mix = raw.manifest["reporter_mix"]
    assert mix["enabled"] and set(mix["by_year"]) == {"2019", "2020"}
    monthly = raw.periodic("monthly")
    funds = raw.funds.set_index("FundId")
    rep = _reports(raw)
    published = set(raw.alloc.FundId)
    for year, entry in mix["by_year"].items():
        assert entry["month_end"] == f"{year}-12-31"
        rows = monthly[monthly.ReportDate == entry["month_end"]]
        per = rows.groupby("FundId").AssetsEnd.sum()
        xb = funds.CrossBorder.loc[per.index] == "true"
        r = rep.loc[per.index]
        member = {
            "all": r == r,
            "daily": r == "daily",
            "daily_with_allocations": (r == "daily") & per.index.isin(published),
            "weekly_only": r == "weekly",
            "monthly_only": r == "monthly",
        }
        for scope, sel in (("all_funds", xb | ~xb), ("cross_border", xb)):
            for c, m in member.items():
                assert entry[scope]["funds"][c] == int((sel & m).sum()), (year, scope, c)
                assert entry[scope]["assets_usd"][c] == int(per[sel & m].sum()) / 100
        # the vendor's proportions, by assets (fixed income 2019: 4.4%, 33.9%, 70.6%)
        shares = entry["shares_of_cross_border_assets"]
        assert 0.02 <= shares["daily_with_allocations"] <= 0.08
        assert 0.2 <= shares["daily"] <= 0.5
        assert 0.6 <= entry["cross_border_share_of_all_assets"] <= 0.8
        a = entry["all_funds"]["assets_usd"]
        assert a["monthly_only"] > 0.5 * a["all"] and a["weekly_only"] < a["monthly_only"]


def test_non_country_lines_at_tiny_seed_7(runs):
    """The manifest's counts of the lines that are not countries are the file's, and the
    figures docs/synthetic-calibration.md quotes."""
    raw = runs["on"]
    by_kind = raw.manifest["non_country_lines"]["by_kind"]
    got = {}
    for kind, rec in by_kind.items():
        col = raw.alloc[rec["column"]]
        assert rec["lines"] == col.notna().sum()
        assert rec["mean_pct"] == pytest.approx(col.mean(), abs=5e-5)
        got[kind] = (rec["lines"], rec["mean_pct"])
    assert got == {"cash": (1609, 1.2655), "other": (336, 0.7109), "supranational": (234, 1.615)}
    units = raw.alloc.drop(columns=["ReportDate", "FundId"]).fillna(0).to_numpy() * 1e4
    assert (np.rint(units).sum(axis=1) <= 1_000_000).all()


def test_hedging_plant(runs):
    raw, off = runs["on"], runs["off"]
    g = raw.manifest["mosaic_scenario"]["groups"]["us_bond_hedging_switch"]
    start, end = raw.window
    assert (
        g["window"] == {"start": start, "end": end} == {"start": "2020-01-02", "end": "2020-12-31"}
    )
    funds = raw.funds.set_index("FundId")
    plant = funds.loc[list(g["funds"])]
    assert len(plant) == g["n_funds"] == 2 and not set(plant.index) & set(off.funds.FundId)
    assert (plant.AssetClass == "B").all() and (plant.GeographicFocus == "US").all()
    assert (plant.CrossBorder == "false").all()
    assert not plant.Domicile.isin(OFFSHORE | {"US"}).any()
    assert dict(plant.Domicile) == g["funds"]
    assert not raw.alloc.FundId.isin(plant.index).any()
    sc = raw.sc.set_index("ShareId")
    for kind, hedged in (("hedged", "true"), ("unhedged", "false")):
        classes = g[f"{kind}_share_classes"]
        assert (sc.loc[list(classes), "Hedged"] == hedged).all()
        assert dict(sc.loc[list(classes), "Currency"]) == classes
    assert set(g["unhedged_share_classes"].values()) == {"USD"}
    assert "USD" not in set(g["hedged_share_classes"].values())
    # the planted funds' flows over the window, into the US (weight 1), to the cent
    d = raw.daily
    win = d[(d.ReportDate >= start) & (d.ReportDate <= end)]
    for kind in ("hedged", "unhedged"):
        rows = win[win.ShareId.isin(list(g[f"{kind}_share_classes"]))]
        assert int(rows.Flow.sum()) == g[f"{kind}_flows"]["cents"]
        by_month = rows.groupby(rows.ReportDate.str[:7]).Flow.sum()
        assert {k: int(v) / 100 for k, v in by_month.items()} == g[f"{kind}_flows"]["usd_by_month"]
    assert g["planted_hedged_inflow"]["cents"] > 0 > g["planted_unhedged_outflow"]["cents"]
    assert g["hedged_flows"]["cents"] > 0 > g["unhedged_flows"]["cents"]
    # the planted funds report daily over the whole range (before the window too)
    assert win.ReportDate.min() == start and d[d.FundId.isin(plant.index)].ReportDate.min() < start
    # the background, as the pipeline finds it: other foreign-domiciled bond funds of the
    # daily file, single-country US ones at weight 1, cross-border ones at the US weight of the
    # 23rd rule's snapshot, by the share class's Hedged flag
    f = win.merge(raw.funds, on="FundId").merge(raw.sc[["ShareId", "Hedged"]], on="ShareId")
    f = f[(f.AssetClass == "B") & ~f.Domicile.isin(OFFSHORE | {"US"}) & ~f.FundId.isin(plant.index)]
    day = pd.to_datetime(f.ReportDate)
    back = np.where(day.dt.day >= 23, 1, 2)
    f = f.assign(snap=(day.dt.to_period("M") - back).astype(str))
    al = raw.alloc.assign(snap=raw.alloc.ReportDate.str[:7])[["FundId", "snap", "US"]]
    f = f.merge(al, on=["FundId", "snap"], how="left")
    single = (f.CrossBorder == "false") & (f.GeographicFocus == "US")
    w = np.where(single, 100.0, f.US.fillna(0.0)) / 100.0
    f = f.assign(into=f.Flow * w)
    bg = g["background"]
    for kind, flag in (("hedged", "true"), ("unhedged", "false")):
        got = f.loc[f.Hedged == flag, "into"].sum() / 100
        assert got == pytest.approx(bg[f"{kind}_flows"]["usd"], abs=0.01 * 260)
    assert bg["n_funds"] >= f.loc[f.US.notna() | single, "FundId"].nunique() >= 1
    # the switch is large next to the background
    switch = g["hedged_flows"]["usd"] - g["unhedged_flows"]["usd"]
    background = abs(bg["hedged_flows"]["usd"]) + abs(bg["unhedged_flows"]["usd"])
    assert switch > 5 * background


def test_parquet_period_files(spark, tmp_path):
    """Parquet scales write one Parquet file each, with the CSV's numbers."""
    kw = dict(
        scale="tiny",
        seed=3,
        n_funds=24,
        start=dt.date(2019, 1, 1),
        end=dt.date(2019, 4, 30),
        partitions=1,
    )
    c = synth.generate(spark, tmp_path / "csv", fmt="csv", **kw)
    p = synth.generate(spark, tmp_path / "pq", fmt="parquet", **kw)
    for freq in ("weekly", "monthly"):
        assert Path(p.paths[f"{freq}_flows"]).name == f"{freq}_flows.parquet"
        a = _cents(pd.read_csv(c.paths[f"{freq}_flows"], dtype=str))
        b = pd.read_parquet(p.paths[f"{freq}_flows"])
        assert list(b.columns) == synth.FLOW_COLUMNS and len(a) == len(b) > 0
        assert (pd.to_datetime(b.ReportDate).dt.strftime("%Y-%m-%d") == a.ReportDate).all()
        for col in MONEY:
            assert np.allclose(b[col].to_numpy() * 100, a[col].to_numpy(), rtol=0, atol=0.5)


def test_weeks_end_on_fridays_before_2001_09_19(spark, tmp_path):
    """The vendor's weeks ended on Fridays until the change-over week (Saturday 2001-09-15 to
    Wednesday 2001-09-19), on Wednesdays since (calendar.period_end)."""
    s = synth.generate(
        spark,
        tmp_path / "2001",
        scale="tiny",
        seed=5,
        n_funds=20,
        start=dt.date(2001, 8, 1),
        end=dt.date(2001, 10, 31),
        partitions=1,
        mosaic=False,
    )
    weekly = _cents(pd.read_csv(s.paths["weekly_flows"], dtype=str))
    dates = pd.to_datetime(weekly.ReportDate)
    before = dates < pd.Timestamp("2001-09-15")
    assert before.any() and (dates[before].dt.dayofweek == 4).all()  # Fridays
    assert (dates[~before].dt.dayofweek == 2).all() and "2001-09-19" in set(weekly.ReportDate)
    assert (
        weekly.AssetsEnd
        == weekly.AssetsStart + weekly.Flow + weekly.PortfolioChange + weekly.ForexChange
    ).all()
    # the first week ends on the first Friday with a whole week in the range
    assert weekly.ReportDate.min() == "2001-08-10"
