"""The mosaic scenario of flowmosaic.synth, found from the raw files with pandas alone.

One small custom universe (200 funds, July 2019 to December 2020, seed 9) generated twice with
the same seed, scenario on and off. With this seed the universe has JP-domiciled Japan equity
funds with retail share classes (ETF and mutual-fund ones, one starting late), non-US bond
funds holding US, and one launched foreign Japan fund (an ETF).

Tolerances, from the construction (docstring of flowmosaic.synth.scenario, MOSAIC SCENARIO):
- planted flows are whole cents added to the scenario-free Flow of the same row, so the
  difference on - off of any group's flows is the planted total EXACTLY (0 cents);
- the planted money is a stock carried in the assets: AssetsStart(t) - AssetsStart_off(t) =
  stock(t-1) in cents, and the stock earns the row's (portfolio + currency) return, so
  d(PortfolioChange + ForexChange) = stock(t-1) x (PC_off + FX_off) / AssetsStart_off up to the
  cent roundings: 1 for the stock, 1.5 for (PC_off + FX_off) (AssetsEnd, Flow and ForexChange are
  each rounded to the cent), times |stock| / AssetsStart_off (< 1), 0.5 for ForexChange on the
  stock: under 3 cents;
- the US weight is scaled in units of 0.0001 percent point: |US_on - US_off x factor| <= 0.00005,
  and every allocation row keeps its total exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowmosaic import synth

START, END = dt.date(2019, 7, 1), dt.date(2020, 12, 31)
SEED, N_FUNDS = 9, 200
MONEY = ["Flow", "AssetsStart", "AssetsEnd", "PortfolioChange", "ForexChange"]
OFFSHORE = {"LU", "IE", "KY"}


@pytest.fixture(scope="module")
def pair(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("mosaic")
    out = {}
    for name, on in (("on", True), ("off", False)):
        s = synth.generate(
            spark,
            base / name,
            scale="tiny",
            seed=SEED,
            n_funds=N_FUNDS,
            start=START,
            end=END,
            partitions=2,
            mosaic=on,
        )
        out[name] = Raw(Path(s.out))
    return out


class Raw:
    """The raw files of one run, read with pandas; money as exact int64 cents."""

    def __init__(self, root: Path):
        self.root = root
        self.manifest = json.loads((root / "manifest.json").read_text())
        self.funds = pd.read_csv(root / "funds.csv", dtype=str, keep_default_na=False)
        self.sc = pd.read_csv(root / "share_classes.csv", dtype=str)
        parts = sorted((root / "flows").glob("part-*.csv"))
        fl = pd.concat([pd.read_csv(p, dtype=str) for p in parts], ignore_index=True)
        for c in MONEY:
            fl[c] = fl[c].str.replace(".", "", regex=False).astype(np.int64)
        self.flows = fl.merge(self.sc[["ShareId", "InvestorType"]], on="ShareId").merge(
            self.funds, on="FundId"
        )
        self.alloc = pd.read_csv(root / "allocations.csv", keep_default_na=False, na_values=[""])
        self.ext = pd.read_csv(root / "market" / "external_series.csv", dtype={"date": str})

    @property
    def scenario(self) -> dict:
        return self.manifest["mosaic_scenario"]


def _window(raw: Raw) -> tuple[str, str]:
    w = raw.scenario["window"]
    return w["start"], w["end"]


def _jp_retail(raw: Raw) -> pd.DataFrame:
    """Retail share classes of JP-domiciled JP single-country equity funds (weight 1 in JP)."""
    f = raw.flows
    return f[
        (f.AssetClass == "E")
        & (f.CrossBorder == "false")
        & (f.GeographicFocus == "JP")
        & (f.Domicile == "JP")
        & (f.InvestorType == "Retail")
    ]


def _foreign_into_jp(raw: Raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Foreign-domiciled equity funds' flows into JP: (single-country rows, weight 1; cross-border
    rows with their weight from the allocation snapshot of the 23rd rule)."""
    f = raw.flows
    foreign = f[(f.AssetClass == "E") & ~f.Domicile.isin(OFFSHORE | {"JP"})]
    single = foreign[(foreign.CrossBorder == "false") & (foreign.GeographicFocus == "JP")]
    xb = foreign[foreign.CrossBorder == "true"].copy()
    d = pd.to_datetime(xb.ReportDate)
    back = np.where(d.dt.day >= 23, 1, 2)
    xb["snap"] = (d.dt.to_period("M") - back).astype(str)
    al = raw.alloc.assign(snap=raw.alloc.ReportDate.str[:7])[["FundId", "snap", "JP"]]
    xb = xb.merge(al, on=["FundId", "snap"], how="left")
    xb = xb[xb.JP.notna()]
    return single, xb.assign(into=xb.Flow * xb.JP / 100.0)


# ------------------------------------------------------------------------------------------
def test_manifest_records_the_scenario(pair):
    on, off = pair["on"], pair["off"]
    assert on.manifest["mosaic"] is True and off.manifest["mosaic"] is False
    assert off.scenario == {"enabled": False}
    s = on.scenario
    assert s["enabled"] and s["n_base_funds"] == N_FUNDS
    # the window: the last 12 calendar months of the range
    assert _window(on) == ("2020-01-02", "2020-12-31") and s["window"]["flow_dates"] == 260
    launched = s["groups"]["foreign_into_jp"]["funds"]
    plant = s["groups"]["us_bond_hedging_switch"]["funds"]
    new = sum(v for k, v in off.manifest["n_reporters"].items() if k != "daily_reporters")
    assert on.manifest["n_funds"] == len(on.funds) == N_FUNDS + len(launched) + len(plant) + new
    assert on.manifest["n_scenario_funds"] == len(launched) + len(plant) == 1 + 2
    assert off.manifest["n_funds"] == len(off.funds) == N_FUNDS + new
    drift = s["groups"]["us_bond_weight_drift"]["factor_by_month"]
    assert list(drift) == [f"2020-{m:02d}" for m in range(1, 13)]
    assert np.allclose(list(drift.values()), 1 - 0.4 * np.arange(1, 13) / 12)


def test_usual_funds_and_market_are_unchanged_outside_the_scenario(pair):
    on, off = pair["on"], pair["off"]
    groups = on.scenario["groups"]
    own = set(groups["foreign_into_jp"]["funds"]) | set(groups["us_bond_hedging_switch"]["funds"])
    assert set(on.funds.FundId) - set(off.funds.FundId) == own
    # every other fund keeps its FundId (the scenario's ids are kept when it is off)
    pd.testing.assert_frame_equal(
        on.funds[~on.funds.FundId.isin(own)].reset_index(drop=True), off.funds
    )
    pd.testing.assert_frame_equal(on.sc[~on.sc.FundId.isin(own)].reset_index(drop=True), off.sc)
    for name in ("returns_daily.csv", "yields_10y.csv"):  # the market ignores the scenario
        assert (on.root / "market" / name).read_bytes() == (off.root / "market" / name).read_bytes()


def test_flows_differ_only_where_the_scenario_says(pair):
    on, off = pair["on"], pair["off"]
    start, _ = _window(on)
    key = ["ShareId", "ReportDate"]
    m = on.flows.merge(off.flows, on=key, how="outer", suffixes=("", "_off"), indicator=True)
    launched = set(on.scenario["groups"]["foreign_into_jp"]["funds"])
    plant = set(on.scenario["groups"]["us_bond_hedging_switch"]["funds"])
    only_on = m[m._merge == "left_only"]
    assert set(only_on.FundId) == launched | plant and (m._merge != "right_only").all()
    # launched on the window's start; the hedging plant's funds report over the whole range
    assert only_on[only_on.FundId.isin(launched)].ReportDate.min() == start
    both = m[m._merge == "both"]
    changed = (both[MONEY].to_numpy() != both[[c + "_off" for c in MONEY]].to_numpy()).any(axis=1)
    diff = both[changed]
    assert len(diff) and (diff.ReportDate >= start).all()  # nothing moves before the window
    retail = set(on.scenario["groups"]["jp_retail_outflow"]["share_classes"])
    drifted = diff[~diff.ShareId.isin(retail)]
    # the rest: non-US cross-border bond funds holding US, whose true weights drift
    funds = on.funds.set_index("FundId").loc[drifted.FundId.unique()]
    assert (funds.AssetClass == "B").all() and (funds.CrossBorder == "true").all()
    assert (funds.Domicile != "US").all()
    assert drifted.FundId.nunique() <= on.scenario["groups"]["us_bond_weight_drift"]["n_funds"]


def test_jp_domestic_retail_outflow_equals_the_planted_total(pair):
    on, off = pair["on"], pair["off"]
    start, end = _window(on)
    g = on.scenario["groups"]["jp_retail_outflow"]
    a_on, a_off = _jp_retail(on), _jp_retail(off)
    assert set(a_on.ShareId) == set(g["share_classes"]) and g["n_funds"] == 4
    assert {"ETF", "MF"} <= set(a_on.Vehicle)
    both = a_on.merge(a_off, on=["ShareId", "ReportDate"], suffixes=("", "_off"))
    assert len(both) == len(a_on) == len(a_off)
    both["dflow"] = both.Flow - both.Flow_off
    assert (both.dflow[both.ReportDate < start] == 0).all()
    win = both[(both.ReportDate >= start) & (both.ReportDate <= end)]
    planted = g["planted_flow"]
    assert int(win.dflow.sum()) == planted["cents"] < 0  # exact, in cents
    by_month = win.groupby(win.ReportDate.str[:7]).dflow.sum()
    assert {k: int(v) / 100 for k, v in by_month.items()} == planted["usd_by_month"]
    # the size: 8% a year of each share class's assets on its first window row (ETF classes
    # deal on ~60% of days at 1/0.6 the amount, so their total is near, not at, 8%)
    first = win.sort_values("ReportDate").groupby("ShareId").first()
    days = win.groupby("ShareId").size()
    nominal = (
        -synth.JP_RETAIL_OUTFLOW * first.AssetsStart_off * days / synth.FLOW_DAYS_PER_YEAR
    ).sum()
    assert 0.85 < planted["cents"] / nominal < 1.15
    # a mutual-fund share class sells the same whole cents every flow date
    mf = win[win.Vehicle == "MF"]
    per_day = mf.groupby("ShareId").dflow.agg(["min", "max"])
    assert (per_day["min"] == per_day["max"]).all() and (per_day["max"] < 0).all()
    # the rest of the row moves only by the planted stock: carried, earning the row's return
    both = both.sort_values(["ShareId", "ReportDate"])
    d_start = both.AssetsStart - both.AssetsStart_off
    d_end = both.AssetsEnd - both.AssetsEnd_off
    same_sc = both.ShareId.eq(both.ShareId.shift())
    assert (d_start[same_sc] == d_end.shift()[same_sc]).all()
    earn = both.PortfolioChange - both.PortfolioChange_off + both.ForexChange - both.ForexChange_off
    ret = (both.PortfolioChange_off + both.ForexChange_off) / both.AssetsStart_off
    expect = d_start.astype(float) * ret  # (cents x cents overflows int64)
    assert (earn - expect).abs().max() < 3
    assert (both.AssetsEnd > 0).all()


def test_foreign_inflows_into_jp_equal_the_planted_total(pair):
    on, off = pair["on"], pair["off"]
    start, end = _window(on)
    g = on.scenario["groups"]["foreign_into_jp"]
    s_on, x_on = _foreign_into_jp(on)
    s_off, x_off = _foreign_into_jp(off)
    # cross-border foreign funds: the same rows, to the cent; the difference is the launched funds
    cols = ["ShareId", "ReportDate", "into"]
    pd.testing.assert_frame_equal(
        x_on[cols].reset_index(drop=True), x_off[cols].reset_index(drop=True)
    )
    assert len(x_on) > 1000 and len(s_off) == 0
    assert set(s_on.FundId) == set(g["funds"]) and (s_on.ReportDate >= start).all()
    assert set(s_on.Domicile) == set(g["funds"].values())
    win = s_on[(s_on.ReportDate >= start) & (s_on.ReportDate <= end)]
    assert int(win.Flow.sum()) == g["all_flows"]["cents"]  # exact, in cents
    by_month = win.groupby(win.ReportDate.str[:7]).Flow.sum()
    assert {k: int(v) / 100 for k, v in by_month.items()} == g["all_flows"]["usd_by_month"]
    # the planted part: FOREIGN_JP_INFLOW a flow day per base fund, dealing days of an ETF
    nominal = synth.FOREIGN_JP_INFLOW * N_FUNDS * 260 * 100
    assert 0.85 < g["planted_inflow"]["cents"] / nominal < 1.15
    assert g["all_flows"]["cents"] > 0
    assert not on.alloc.FundId.isin(list(g["funds"])).any()  # single-country: no allocations


def test_us_weight_of_non_us_bond_funds_drifts_down(pair):
    on, off = pair["on"], pair["off"]
    g = on.scenario["groups"]["us_bond_weight_drift"]
    factor = g["factor_by_month"]
    countries = [c for c in on.alloc.columns if len(c) == 2]
    m = on.alloc.merge(
        off.alloc, on=["ReportDate", "FundId"], how="outer", suffixes=("", "_off"), indicator=True
    )
    assert (m._merge == "both").all()
    funds = on.funds.set_index("FundId")
    dom, ac = funds.Domicile.loc[m.FundId].to_numpy(), funds.AssetClass.loc[m.FundId].to_numpy()
    # the usual funds drift (not the vendor model's weekly and monthly reporters)
    usual = (m.FundId < f"F{on.scenario['n_base_funds']:06d}").to_numpy()
    hit = (ac == "B") & (dom != "US") & m.US_off.notna().to_numpy() & usual
    f = m.ReportDate.str[:7].map(factor).fillna(1.0).to_numpy()
    drifting = hit & (f < 1)
    assert m.loc[drifting, "FundId"].nunique() == g["n_funds"] > 5
    on_v = m[countries].to_numpy()
    off_v = m[[c + "_off" for c in countries]].to_numpy()
    same = ~drifting
    assert np.array_equal(np.nan_to_num(on_v[same], nan=-1), np.nan_to_num(off_v[same], nan=-1))
    us = countries.index("US")
    d = drifting
    assert np.abs(on_v[d, us] - off_v[d, us] * f[d]).max() <= 0.00005 + 1e-9
    units_on = np.rint(np.nan_to_num(on_v[d]) * 1e4).astype(np.int64)
    units_off = np.rint(np.nan_to_num(off_v[d]) * 1e4).astype(np.int64)
    assert (units_on.sum(axis=1) == units_off.sum(axis=1)).all()  # total invested unchanged
    others = np.ones(len(countries), dtype=bool)
    others[us] = False
    gain = units_on[:, others] - units_off[:, others]
    assert (gain >= 0).all() and (gain.sum(axis=1) > 0).all()
    # in the window's last month the US weight is 60% of what it would have been
    last = m.ReportDate[d].str[:7] == "2020-12"
    ratio = on_v[d, us][last.to_numpy()] / off_v[d, us][last.to_numpy()]
    assert np.allclose(ratio, synth.US_BOND_DRIFT, atol=0.01)


def test_external_series_file(pair):
    on, off = pair["on"], pair["off"]
    ext = on.ext
    assert list(ext.columns) == synth.EXTERNAL_COLUMNS
    listed = on.manifest["external_series"]["series"]
    assert [s["series"] for s in listed] == list(dict.fromkeys(ext.series))
    assert ext.date.str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert np.isfinite(ext.value).all()
    for s in listed:
        part = ext[ext.series == s["series"]]
        assert len(part) == s["rows"] > 0
        assert set(part.country) == {s["country"]} and set(part.unit) == {s["unit"]}
        assert set(part.frequency) == {s["frequency"]}
        assert part.date.is_monotonic_increasing and part.date.is_unique
        dates = pd.to_datetime(part.date)
        assert dates.min() >= pd.Timestamp(START) and dates.max() <= pd.Timestamp(END)
    series = {name: g.set_index("date").value for name, g in ext.groupby("series")}
    bop = series["foreign_portfolio_equity_flows"]
    assert (
        len(bop) == 18
        and (pd.to_datetime(bop.index) + pd.offsets.MonthEnd(0) == pd.to_datetime(bop.index)).all()
    )
    # it is a noisy version of the foreign-domiciled equity flows into JP of the universe
    s_on, x_on = _foreign_into_jp(on)
    into = pd.concat(
        [
            s_on.assign(into=s_on.Flow.astype(float))[["ReportDate", "into"]],
            x_on[["ReportDate", "into"]],
        ]
    )
    monthly = into.groupby(into.ReportDate.str[:7]).into.sum()
    assert np.corrcoef(monthly.to_numpy(), bop.to_numpy())[0, 1] > 0.5
    spec = series["equity_futures_net_speculative_positions"]
    assert (pd.to_datetime(spec.index).dayofweek == 1).all() and 70 <= len(spec) <= 80
    assert (spec == spec.round()).all() and spec.abs().max() < 500_000
    rr = series["usdjpy_1m_25d_risk_reversal"]
    assert len(rr) == on.manifest["n_flow_dates"] and rr.between(-6, 4).all()
    assert rr.mean() < 0
    ust = series["official_holdings_us_treasuries_by_jp"]
    assert len(ust) == 18 and ust.between(500, 2_000).all()
    # scenario off: the same draws; the holdings lack the window's drift, the risk reversal
    # (market only) is the same
    off_s = {name: g.set_index("date").value for name, g in off.ext.groupby("series")}
    assert off_s["usdjpy_1m_25d_risk_reversal"].equals(rr)
    factor = on.scenario["groups"]["us_bond_weight_drift"]["factor_by_month"]
    f = np.array([factor.get(d[:7], 1.0) for d in ust.index])
    assert np.allclose(
        ust.to_numpy(),
        off_s["official_holdings_us_treasuries_by_jp"].to_numpy() * (1 - 0.5 * (1 - f)),
        atol=0.1,
    )  # both rounded to 0.1
    # same noise: on - off is the launched funds' flows, scaled by 1 / coverage, in US$ bn
    coverage = on.manifest["external_series"]["coverage"]
    added = pd.Series(on.scenario["groups"]["foreign_into_jp"]["all_flows"]["usd_by_month"])
    added = added.reindex([d[:7] for d in bop.index]).fillna(0.0).to_numpy() / coverage / 1e9
    gap = bop.to_numpy() - off_s["foreign_portfolio_equity_flows"].to_numpy()
    assert np.allclose(gap, added, atol=0.0011) and added[-12:].sum() > 0
