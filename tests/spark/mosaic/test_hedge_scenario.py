"""The hedging plant of flowmosaic.synth's mosaic scenario, recovered end to end: synthetic raw
files -> ingest -> `flowmosaic mosaic-flows` (investor_country_flows, then
investor_hedge_flows) -> analyses.hedge_split -> the country page of `flowmosaic mosaic`.

One small universe (200 funds, July to December 2020, seed 9: the scenario's window is the
whole range), generated with the scenario and the vendor model (share classes' Currency and
Hedged), ingested, and run at the investor grain for B-ALL (every bond fund: the plant's funds
are single-country US bond funds, outside the cross-border universes).

The plant (synth/hedging.py): single-country US bond funds domiciled outside the US and the
offshore centres, a hedged class with planted inflows and an unhedged USD class with planted
outflows over the window. manifest.json's mosaic_scenario group us_bond_hedging_switch records
every flow of those classes over the window (whole cents) and the background: the same flows
into the US of every other foreign-domiciled bond fund the pipeline can place there, by the
classes' Hedged flag, weighted by the 23rd rule's US weight, recomputed by the generator from
its own draws (not from the files) and rounded to the cent per flow date.

Tolerance, from that construction: the planted funds' flows are whole cents, weight 1; the
background's weights are the 4-decimal percentages the allocations file holds (the generator
rounds them before writing), so the pipeline and the manifest add the same terms and differ
only by (i) the background's rounding to the cent on each flow date, at most half a cent a day,
and (ii) the doubles' order of addition, tests/support/tolerance.py's 1e-9 of the absolute
amounts summed. That allows about 0.15 US$ on a month's sum of tens of millions (seen: 0.04 at
most) and 0.9 US$ on the window's; a share-class day missing or counted twice would be off by
thousands of US$.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowmosaic import country_flows, synth
from flowmosaic.config import Settings
from flowmosaic.ingest import ingest_paths
from flowmosaic.mosaic import analyses as an
from flowmosaic.mosaic.tables import gold
from flowmosaic.synth.scenario import OFFSHORE as SYNTH_OFFSHORE
from tests.support import tolerance as tol
from tests.support.cli import run_in_session

pytestmark = pytest.mark.slow
SEED, N_FUNDS = 9, 200
START, END = dt.date(2020, 7, 1), dt.date(2020, 12, 31)
BONDS = "B-ALL"


@dataclass
class Run:
    raw: Path
    settings: Settings
    plant: dict  # manifest.json's mosaic_scenario.groups.us_bond_hedging_switch
    window: tuple[pd.Timestamp, pd.Timestamp]
    ihf: pd.DataFrame  # investor_hedge_flows of B-ALL
    icf: pd.DataFrame  # investor_country_flows of B-ALL


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def run(spark, make_settings, repo, tmp_path_factory) -> Run:
    base = tmp_path_factory.mktemp("hedge-scenario")
    raw = base / "raw"
    synth.generate(
        spark,
        raw,
        scale="tiny",
        seed=SEED,
        n_funds=N_FUNDS,
        start=START,
        end=END,
        partitions=2,
        mosaic=True,
    )
    settings = make_settings(base / "wh")
    report = ingest_paths(spark, settings, directory=str(raw))
    assert report.reconciled, report.describe()
    common = ["--conf", str(repo / "conf" / "local.yaml"), "--warehouse", settings.warehouse]
    assert run_in_session(spark, ["mosaic-flows", "--universe", BONDS, *common]) == 0
    scenario = json.loads((raw / "manifest.json").read_text())["mosaic_scenario"]
    assert scenario["enabled"]
    plant = scenario["groups"]["us_bond_hedging_switch"]
    window = (pd.Timestamp(plant["window"]["start"]), pd.Timestamp(plant["window"]["end"]))
    assert window == (pd.Timestamp(START), pd.Timestamp(END))  # the page's range too
    return Run(
        raw,
        settings,
        plant,
        window,
        gold(spark, settings, "investor_hedge_flows", BONDS),
        gold(spark, settings, "investor_country_flows", BONDS),
    )


def _foreign_into_us(run: Run) -> pd.DataFrame:
    """ihf rows into the US in the window, with their group seen from the US and month."""
    r = run.ihf
    r = r[(r.country == "US") & r.flow_date.between(*run.window)]
    return r.assign(
        group=an.investor_groups(r.investor_domicile, "US").to_numpy(),
        month=r.flow_date.dt.strftime("%Y-%m").to_numpy(),
    )


def test_the_plant_is_foreign_seen_from_the_us_and_every_class_is_flagged(run):
    p = run.plant
    assert p["n_funds"] == len(p["funds"]) >= 2
    doms = pd.Series(list(p["funds"].values()))
    assert set(an.investor_groups(doms, "US")) == {"foreign"}
    assert p["planted_hedged_inflow"]["usd"] > 0 > p["planted_unhedged_outflow"]["usd"]
    assert p["background"]["n_funds"] > 0
    # the generator writes every share class's Hedged flag: nothing is unknown, and the hedge
    # split adds up to the investor types (flows into the US, every group)
    assert an.hedge_flags_delivered(run.ihf, BONDS)
    assert set(run.ihf.hedge_status) == {"hedged", "unhedged"}
    key = ["flow_date", "investor_domicile", "country"]
    h = run.ihf.groupby(key).flow_usd.sum().sort_index()
    i = run.icf.groupby(key).flow_usd.sum().sort_index()
    assert list(h.index) == list(i.index)
    assert np.allclose(h.to_numpy(), i.to_numpy(), rtol=1e-12, atol=1e-6)
    # the only offshore hubs the generator uses are LU, IE and KY (its own OFFSHORE): the
    # page's foreign group is the plant's foreign group
    hubs = set(an.OFFSHORE_DOMICILES) - set(SYNTH_OFFSHORE)
    assert not hubs & set(run.ihf.investor_domicile)


def test_foreign_hedged_and_unhedged_flows_into_the_us_are_recovered(run):
    """hedge_split's foreign flows into the US by status, month by month and over the window,
    are the plant's classes' flows plus the background's, to the tolerance of the module
    docstring."""
    p, bg = run.plant, run.plant["background"]
    rows = _foreign_into_us(run)
    rows = rows[rows.group == "foreign"]
    split = an.hedge_split(run.ihf, "US", BONDS, "M", start=run.window[0], end=run.window[1])
    split = split.assign(month=split.date.dt.strftime("%Y-%m")).set_index("month")
    days = rows.groupby("month").flow_date.nunique()
    for status in ("hedged", "unhedged"):
        want = pd.Series(p[f"{status}_flows"]["usd_by_month"]) + pd.Series(
            bg[f"{status}_flows"]["usd_by_month"]
        )
        got = split[f"{status}_flow_usd"].reindex(want.index)
        terms = (
            rows[rows.hedge_status == status]
            .groupby("month")
            .flow_usd.apply(lambda s: s.abs().sum())
        )
        allowed = 0.005 * days.reindex(want.index) + tol.sum_tolerance(terms.reindex(want.index))
        off = (got - want).abs()
        assert (off <= allowed).all(), pd.DataFrame(
            {"got": got, "want": want, "off": off, "allowed": allowed}
        )
        total = p[f"{status}_flows"]["usd"] + bg[f"{status}_flows"]["usd"]
        cum = split[f"cum_{status}_flow_usd"].iloc[-1]
        assert abs(cum - total) <= allowed.sum(), (status, cum, total)
    assert (split.unknown_flow_usd == 0).all()
    # the currency flow the unhedged classes imply, and the switch in the hedge ratio
    assert split.cum_implied_fx_flow_usd.iloc[-1] == split.cum_unhedged_flow_usd.iloc[-1]
    planted = p["planted_hedged_inflow"]["usd"], p["planted_unhedged_outflow"]["usd"]
    assert planted[0] > 0 > planted[1]
    assert split.hedge_ratio_pct.iloc[-1] > split.hedge_ratio_pct.iloc[0]


@pytest.fixture(scope="module")
def page(spark, run, repo, tmp_path_factory) -> Path:
    """The US page of `flowmosaic mosaic` for B-ALL (after country-flows for the all-funds
    line it shows)."""
    country_flows.run(spark, run.settings, [BONDS], progress=_quiet)
    out = tmp_path_factory.mktemp("hedge-page")
    common = ["--conf", str(repo / "conf" / "local.yaml"), "--warehouse", run.settings.warehouse]
    args = ["mosaic", "--country", "US", "--universe", BONDS, "--out", str(out), "--synthetic"]
    assert run_in_session(spark, [*args, *common]) == 0
    return out / "mosaic-US.html"


def test_page_shows_the_split(page, run):
    """The page's hedge line is hedge_split's over the page's range (the window), and its
    CSV holds the recovered cumulative flows."""
    text = page.read_text(encoding="utf-8")
    assert "Hedged and unhedged foreign flows" in text
    daily = an.hedge_split(run.ihf, "US", BONDS)
    assert html.escape(an.hedge_text(daily)) in text
    csv = pd.read_csv(page.parent / "mosaic-US-hedge-daily.csv")
    assert len(csv) == len(daily)
    for status in ("hedged", "unhedged"):  # the CSV's 10 significant digits
        col = f"cum_{status}_flow_usd"
        assert csv[col].to_numpy() == pytest.approx(daily[col].to_numpy(), rel=1e-9, abs=1e-3)


def _raw_rows(raw: Path, name: str) -> pd.DataFrame:
    """A raw flow file (a CSV file or a directory of CSV parts) as read by pandas."""
    p = raw / name
    files = sorted(p.glob("*.csv")) if p.is_dir() else [p]
    cols = ["ReportDate", "FundId", "AssetsEnd"]
    return pd.concat([pd.read_csv(f, usecols=cols, dtype={"ReportDate": str}) for f in files])


def test_the_reporter_mix_is_recovered_through_ingest(spark, run, tmp_path):
    """The vendor's coverage table of the same universe, through ingest and `coverage`, for
    the universe of every cross-border fund: the generator's reporter mix (manifest.json,
    December 2020, from the monthly file) is what the pipeline finds, except for the funds the
    manifest leaves out on purpose (those reporting in December for part of the month only:
    they have no monthly row on 31 December). Those are read from the raw files here and bound
    the difference: each category's count is the manifest's plus at most that many funds, and
    its assets the manifest's plus at most their largest December AssetsEnd sums."""
    from flowmosaic import coverage

    universes = tmp_path / "universes.yaml"
    universes.write_text(
        "universes:\n  XB:\n    description: every cross-border fund\n    cross_border: true\n"
    )
    coverage.run(spark, run.settings, "XB", str(universes), progress=_quiet)
    got = spark.read.format("delta").load(run.settings.table_path("coverage")).toPandas()
    year = got[(got.universe == "XB") & (got.period == "year")].set_index("period_start")
    row = year.loc[dt.date(2020, 1, 1)]
    assert row.as_of == dt.date(2020, 12, 31)
    mix = json.loads((run.raw / "manifest.json").read_text())["reporter_mix"]["by_year"]["2020"]

    # the funds reporting in December without a monthly row on the 31st, and their assets
    dec = [
        r[r.ReportDate.str.replace("-", "").str.startswith("202012")]
        for r in (_raw_rows(run.raw, "flows"), _raw_rows(run.raw, "weekly_flows.csv"))
    ]
    monthly = _raw_rows(run.raw, "monthly_flows.csv")
    full = set(monthly.loc[monthly.ReportDate.str.replace("-", "") == "20201231", "FundId"])
    part = pd.concat(dec)
    part = part[~part.FundId.isin(full)]
    funds = pd.read_csv(run.raw / "funds.csv", usecols=["FundId", "CrossBorder"])
    xb = set(funds.loc[funds.CrossBorder.astype(str).str.lower() == "true", "FundId"])
    per_day = part.groupby(["FundId", "ReportDate"]).AssetsEnd.sum().groupby("FundId").max()

    def bounded(count, assets, manifest_scope, category, scope_funds):
        extra = per_day[per_day.index.isin(scope_funds)] if scope_funds is not None else per_day
        want_n = mix[manifest_scope]["funds"][category]
        want_a = mix[manifest_scope]["assets_usd"][category]
        assert want_n <= count <= want_n + len(extra), (category, count, want_n, len(extra))
        slack = float(extra.sum()) + 1e-9 * want_a + 0.01
        assert want_a - 0.01 <= assets <= want_a + slack, (category, assets, want_a, slack)

    bounded(row.all_funds, row.all_assets_usd, "all_funds", "all", None)
    bounded(row.universe_funds, row.universe_assets_usd, "cross_border", "all", xb)
    bounded(row.daily_funds, row.daily_assets_usd, "cross_border", "daily", xb)
    bounded(
        row.daily_alloc_funds,
        row.daily_alloc_assets_usd,
        "cross_border",
        "daily_with_allocations",
        xb,
    )
    # and the mix is the vendor's shape: daily reporters with allocations a few per cent of
    # the cross-border assets, most of them monthly-only
    share = row.daily_alloc_assets_usd / row.universe_assets_usd
    assert 0.01 < share < 0.10
    assert mix["shares_of_cross_border_assets"]["monthly_only"] > 0.5
