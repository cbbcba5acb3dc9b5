"""The mosaic scenario of flowmosaic.synth, recovered end to end: synthetic raw files -> ingest
-> the investor grain (what `flowmosaic mosaic-flows` runs) -> the analyses of
flowmosaic.mosaic, and the country page written by `flowmosaic mosaic`.

One small universe (200 funds, July to December 2020, seed 9: the scenario's window is the
whole range) is generated twice with the same seed, scenario on and off; each is ingested
(external series included) into its own warehouse and aggregated at the investor grain for
E-ALL (every equity fund) and FloPctCtry-B (cross-border bond funds). With this seed the
scenario has JP-domiciled Japan equity funds with retail share classes, one launched foreign
Japan fund, and non-US cross-border bond funds holding US.

Tolerances, from the construction (synth's MOSAIC SCENARIO; tests/spark/synth/
test_synth_mosaic.py proves the raw files obey it):
- planted flows are whole cents added to rows whose own flow is unchanged, and the launched
  funds exist only with the scenario: on - off of a group's flows into JP is the planted total
  exactly, so the analyses' doubles may differ from it only by rounding: within
  tests/support/tolerance.py's 1e-9 of the absolute amounts summed;
- a drifted bond fund's US weight is its scenario-free weight times factor(m) (to 0.00005
  percentage point) and its total weight is unchanged, so a domicile's US share of its holdings
  moves by the factor of the snapshot in force; what else moves it is the drifted funds' assets,
  which differ between the runs only by six months of their own flows and returns (bond funds:
  hundredths of a percent a day, mostly the same in both runs). 1% covers that (0.35% at most
  here) and is far below the drift (down to 0.67);
- the monthly foreign_portfolio_equity_flows series is the foreign flows into JP over coverage
  plus noise drawn the same in both runs, written to 0.001 (US$ bn): on - off is the launched
  funds' flows / coverage to 0.001.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flowmosaic import country_flows, synth
from flowmosaic.config import Settings
from flowmosaic.ingest import ingest_paths
from flowmosaic.mosaic import analyses as an
from flowmosaic.mosaic import external as ex
from flowmosaic.mosaic.page import GROUP_COLORS
from flowmosaic.mosaic.tables import external, gold
from tests.support import tolerance as tol
from tests.support.cli import run_in_session

pytestmark = pytest.mark.slow
SEED, N_FUNDS = 9, 200
START, END = dt.date(2020, 7, 1), dt.date(2020, 12, 31)
EQUITY, BONDS = "E-ALL", "FloPctCtry-B"


@dataclass
class Run:
    raw: Path
    settings: Settings
    scenario: dict  # manifest.json's mosaic_scenario
    coverage: float  # the external series' coverage
    icf: dict[str, pd.DataFrame]  # investor_country_flows by universe
    external: pd.DataFrame  # external_series of JP


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def runs(spark, make_settings, tmp_path_factory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("scenario")
    out = {}
    for name, on in (("on", True), ("off", False)):
        raw = base / f"raw-{name}"
        synth.generate(
            spark,
            raw,
            scale="tiny",
            seed=SEED,
            n_funds=N_FUNDS,
            start=START,
            end=END,
            partitions=2,
            mosaic=on,
        )
        settings = make_settings(base / f"wh-{name}")
        report = ingest_paths(
            spark,
            settings,
            directory=str(raw),
            external_series=str(raw / "market" / "external_series.csv"),
        )
        assert report.reconciled, report.describe()
        country_flows.run(spark, settings, [EQUITY, BONDS], grain="investor", progress=_quiet)
        manifest = json.loads((raw / "manifest.json").read_text())
        out[name] = Run(
            raw,
            settings,
            manifest["mosaic_scenario"],
            manifest["external_series"]["coverage"],
            {u: gold(spark, settings, "investor_country_flows", u) for u in (EQUITY, BONDS)},
            external(spark, settings, "JP"),
        )
    assert out["on"].scenario["enabled"] and not out["off"].scenario["enabled"]
    return out


def _month_end(month: str) -> pd.Timestamp:
    return pd.Period(month, "M").to_timestamp(how="end").normalize()


def _jp_groups(run: Run) -> pd.DataFrame:
    """icf rows into JP with their group (seen from JP) and month."""
    rows = run.icf[EQUITY]
    rows = rows[rows.country == "JP"]
    return rows.assign(
        group=an.investor_groups(rows.investor_domicile, "JP").to_numpy(),
        date=an.period_end(rows.flow_date, "M").to_numpy(),
    )


def _abs_terms(runs: dict[str, Run]) -> pd.Series:
    """Per (group, investor_type incl. All, month): |flow_usd| summed over both runs' rows."""
    parts = []
    for run in runs.values():
        r = _jp_groups(run).assign(a=lambda x: x.flow_usd.abs())
        parts.append(r.groupby(["group", "investor_type", "date"]).a.sum())
        parts.append(
            r.assign(investor_type=an.ALL).groupby(["group", "investor_type", "date"]).a.sum()
        )
    return pd.concat(parts).groupby(level=[0, 1, 2]).sum()


# --- (a) and (b): who moves money into JP -------------------------------------------------------


def test_scenario_funds_fall_in_the_groups_the_analyses_use(runs):
    """The JP retail sellers are domestic seen from JP, the launched funds foreign."""
    g = runs["on"].scenario["groups"]
    launched = g["foreign_into_jp"]["funds"]  # fund id -> domicile
    assert len(launched) == 1 and g["jp_retail_outflow"]["n_funds"] == 4
    groups = an.investor_groups(pd.Series(list(launched.values()) + ["JP"]), "JP")
    assert list(groups) == ["foreign"] * len(launched) + ["domestic"]


def test_group_flows_into_jp_differ_by_the_planted_totals(runs):
    """domestic_foreign_flows, monthly, scenario on minus off: JP retail investors (domestic,
    Retail and so All) by the planted outflow, foreign investors by every flow of the launched
    funds, month by month; domestic institutional and offshore investors not at all."""
    on = runs["on"]
    g = on.scenario["groups"]
    retail = pd.Series(g["jp_retail_outflow"]["planted_flow"]["usd_by_month"])
    launched = pd.Series(g["foreign_into_jp"]["all_flows"]["usd_by_month"])
    assert len(retail) == len(launched) == 6 and (retail < 0).all() and launched.sum() > 0
    monthly = {
        k: an.domestic_foreign_flows(r.icf[EQUITY], "JP", EQUITY, "M").set_index(
            ["group", "investor_type", "date"]
        )
        for k, r in runs.items()
    }
    diff = (monthly["on"].flow_usd - monthly["off"].flow_usd).rename("diff")
    planted = {
        ("domestic", "Retail"): retail,
        ("domestic", an.ALL): retail,
        ("foreign", an.ALL): launched,
        ("domestic", "Institutional"): 0 * retail,
        ("offshore", "Institutional"): 0 * retail,
        ("offshore", "Retail"): 0 * retail,
        ("offshore", an.ALL): 0 * retail,
    }
    want = pd.concat(
        {
            k: pd.Series(v.to_numpy(), index=[_month_end(m) for m in v.index])
            for k, v in planted.items()
        }
    ).rename("want")
    want.index.names = diff.index.names
    m = pd.concat(
        [want, diff.reindex(want.index), _abs_terms(runs).reindex(want.index)], axis=1
    ).reset_index()
    assert m["diff"].notna().all(), m[m["diff"].isna()]
    tol.assert_within(m, "diff", "want", tol.sum_tolerance(m["a"]), what="on - off flows")
    # the year to date at the window's end: the planted totals
    daily = {
        k: an.domestic_foreign_flows(r.icf[EQUITY], "JP", EQUITY, "D") for k, r in runs.items()
    }

    def ytd(k, group, itype):
        t = daily[k]
        return t[(t.group == group) & (t.investor_type == itype)].ytd_flow_usd.iloc[-1]

    terms = m.groupby(["group", "investor_type"]).a.sum()
    for (group, itype), total in (
        (("domestic", "Retail"), g["jp_retail_outflow"]["planted_flow"]),
        (("foreign", an.ALL), g["foreign_into_jp"]["all_flows"]),
    ):
        got = ytd("on", group, itype) - ytd("off", group, itype)
        assert abs(got - total["usd"]) <= tol.REL * terms[(group, itype)], (group, got, total)


def test_external_flow_series_carries_the_same_buying(runs):
    """The monthly balance-of-payments style series, aggregated by external.py's default rule
    (sum, a flow series), moves on - off by the foreign flows into JP the analyses find,
    scaled by the universe's coverage."""
    on = runs["on"]
    value, flows = {}, {}
    for k, r in runs.items():
        agg = ex.aggregate_external(r.external, "M")
        agg = agg[agg.series == "foreign_portfolio_equity_flows"]
        assert (agg.rule == "sum").all()
        value[k] = agg.set_index("date").value
        t = an.domestic_foreign_flows(r.icf[EQUITY], "JP", EQUITY, "M")
        flows[k] = (
            t[(t.group == "foreign") & (t.investor_type == an.ALL)].set_index("date").flow_usd
        )
    found = (flows["on"] - flows["off"]) / on.coverage / 1e9
    gap = value["on"] - value["off"]
    assert len(gap) == 6 and (found > 0).all()
    assert np.allclose(
        gap.to_numpy(), found.reindex(gap.index).to_numpy(), rtol=0, atol=0.001 + 1e-9
    )


# --- (c): non-US bond funds leave US bonds ------------------------------------------------------


def test_us_share_of_non_us_bond_portfolios_drifts_by_the_factor(runs):
    """home_bias with destination US, month-end holdings, on / off: for every non-US domicile
    the US share of its cross-border bond funds' holdings is the factor of the snapshot in force
    at the month's last flow date (after the 23rd: the previous month's), to 1%; US-domiciled
    funds do not drift."""
    g = runs["on"].scenario["groups"]["us_bond_weight_drift"]
    factor = g["factor_by_month"]
    assert g["n_funds"] > 5 and min(factor.values()) == pytest.approx(synth.US_BOND_DRIFT)
    hb = {k: an.home_bias(r.icf[BONDS], BONDS, "US") for k, r in runs.items()}
    m = hb["on"].merge(hb["off"], on=["month", "domicile"], suffixes=("", "_off"), validate="1:1")
    m = m[(m.destination_usd > 0) & (m.destination_usd_off > 0)]
    m = m.assign(
        ratio=m.destination_share_of_total_pct / m.destination_share_of_total_pct_off,
        snapshot=(m.month.dt.to_period("M") - 1).astype(str),
    )
    m["want"] = np.where(m.domicile == "US", 1.0, m.snapshot.map(factor).fillna(1.0))
    assert m[m.domicile != "US"].domicile.nunique() >= 4 and (m.domicile == "US").any()
    assert len(m.month.unique()) == 6 and m.want.min() == pytest.approx(1 - 0.4 * 5 / 6)
    us = m[m.domicile == "US"]
    assert np.allclose(us.ratio, 1.0, rtol=1e-9, atol=0), us
    other = m[m.domicile != "US"]
    off_by = (other.ratio / other.want - 1).abs()
    assert (off_by <= 0.01).all(), other.assign(off_by=off_by).sort_values("off_by").tail()


# --- the country page (`flowmosaic mosaic`) ------------------------------------------------------


@pytest.fixture(scope="module")
def page(spark, runs, repo, tmp_path_factory) -> Path:
    """The page of the scenario-on warehouse, written by `flowmosaic mosaic` (after
    country-flows for the all-funds line it shows)."""
    on = runs["on"]
    country_flows.run(spark, on.settings, [EQUITY], progress=_quiet)
    out = tmp_path_factory.mktemp("page")
    rc = run_in_session(
        spark,
        [
            "mosaic",
            "--conf",
            str(repo / "conf" / "local.yaml"),
            "--warehouse",
            on.settings.warehouse,
            "--country",
            "JP",
            "--universe",
            EQUITY,
            "--out",
            str(out),
            "--synthetic",
        ],
    )
    assert rc == 0
    return out / "mosaic-JP.html"


def test_page_shows_the_planted_scenario(page, runs):
    """The page's year-to-date lines are the scenario-free figures plus the planted totals:
    JP retail investors' outflow, foreign investors' launched funds; it says it is synthetic."""
    text = page.read_text(encoding="utf-8")
    assert "Synthetic data: generated, not market data." in text
    g = runs["on"].scenario["groups"]
    off = an.domestic_foreign_flows(runs["off"].icf[EQUITY], "JP", EQUITY, "D")

    def off_ytd(group, itype):
        return off[(off.group == group) & (off.investor_type == itype)].ytd_flow_usd.iloc[-1]

    for phrase, group, itype, planted in (
        (
            "retail investors domiciled in JP",
            "domestic",
            "Retail",
            g["jp_retail_outflow"]["planted_flow"]["usd"],
        ),
        (
            "all investors domiciled outside JP",
            "foreign",
            an.ALL,
            g["foreign_into_jp"]["all_flows"]["usd"],
        ),
    ):
        line = f"{phrase}: {an.format_usd(off_ytd(group, itype) + planted)} YTD (to {END:%Y-%m-%d})"
        assert line in text, (line, [s for s in text.split("<br>") if phrase in s])
    for suffix in ("flows-daily", "flows-monthly", "home-bias", "persistence", "external-summary"):
        assert (page.parent / f"mosaic-JP-{suffix}.csv").is_file(), suffix


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian: apt-get install chromium): the page is not rendered",
)
def test_page_renders_in_a_headless_browser(page, tmp_path):
    """Chromium renders the page to a screenshot that is not blank: thousands of colours, and
    the charts' domestic, foreign and offshore lines in their colours."""
    png = tmp_path / "mosaic-JP.png"
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert png.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (2000, 1280, 3)
    flat = pixels.reshape(-1, 3).astype(int)
    assert len(np.unique(flat, axis=0)) > 1000
    for group, colour in GROUP_COLORS.items():
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        near = int((np.abs(flat - rgb).max(axis=1) <= 8).sum())
        assert near > 100, (group, colour, near)
