"""The country page's hedge panel on test_page.py's constructed universe: with hedge flags (the
line, chart, monthly table and CSVs), without any flag (a note instead of an empty chart), and
without investor_hedge_flows at all."""

from __future__ import annotations

import html

import pandas as pd
import pytest

from flowmosaic.mosaic import analyses as an
from flowmosaic.mosaic.page import write_country_page
from tests.unit.mosaic.test_page import BN, DATES, flows_and_holdings

IMAGES = 'src="data:image/png;base64,'


def hedge_rows(flagged: bool = True) -> pd.DataFrame:
    """investor_hedge_flows into JP per flow date (US$): US funds (foreign) +0.3bn a day
    through hedged classes holding 8bn, -1bn a day (-2bn on Mondays) through unhedged ones
    holding 12bn; JP funds (domestic) +1bn on Fridays through unhedged classes. flagged=False:
    every class without a flag."""
    rows = []
    for d in DATES:
        us = -2.0 if d.weekday() == 0 else -1.0
        jp = 1.0 if d.weekday() == 4 else 0.0
        rows += [
            ("U", d, "US", "hedged", "JP", 0.3 * BN, 8 * BN),
            ("U", d, "US", "unhedged", "JP", us * BN, 12 * BN),
            ("U", d, "JP", "unhedged", "JP", jp * BN, 60 * BN),
        ]
    ihf = pd.DataFrame(rows, columns=list(an.IHF_COLUMNS))
    if not flagged:
        ihf["hedge_status"] = "unknown"
    return ihf.assign(portfolio_change_usd=0.0, fund_count=1)


def _page(tmp_path, hedge):
    icf, cf = flows_and_holdings()
    path = write_country_page(
        "JP", "U", icf, cf, None, tmp_path, {}, window=8, min_periods=4, hedge=hedge
    )
    return path.read_text(encoding="utf-8")


def test_panel_with_flags(tmp_path):
    text = _page(tmp_path, hedge_rows())
    assert "Hedged and unhedged foreign flows" in text
    # the page's five charts without external series, and the panel's
    assert text.count(IMAGES) == 5 + 1
    mondays = sum(1 for d in DATES if d.weekday() == 0)
    unhedged = -(len(DATES) + mondays) * BN
    line = (
        f"foreign investors into JP, {DATES[0]:%Y-%m-%d} to {DATES[-1]:%Y-%m-%d}: "
        f"{an.format_usd(0.3 * BN * len(DATES))} through hedged share classes, "
        f"{an.format_usd(unhedged)} through unhedged ones; implied net purchase of JP's currency "
        f"{an.format_usd(unhedged)}; hedge ratio of their holdings 40.0% -> 40.0%"
    )
    assert html.escape(line) in text
    monthly = pd.read_csv(tmp_path / "mosaic-JP-hedge-monthly.csv", parse_dates=["date"])
    assert len(monthly) == 5 and (monthly.hedge_ratio_pct == 40.0).all()
    assert monthly.implied_fx_flow_usd.sum() == pytest.approx(unhedged)
    daily = pd.read_csv(tmp_path / "mosaic-JP-hedge-daily.csv")
    assert len(daily) == len(DATES) and set(daily.group) == {"foreign"}
    assert "mosaic-JP-hedge-daily.csv" in text


def test_no_flags_says_so_instead_of_a_chart(tmp_path):
    text = _page(tmp_path, hedge_rows(flagged=False))
    assert "No share class of this universe carries a hedge flag" in text
    assert text.count(IMAGES) == 5
    assert not (tmp_path / "mosaic-JP-hedge-daily.csv").exists()


def test_without_the_table(tmp_path):
    text = _page(tmp_path, None)
    assert "The hedge split was not computed for this universe" in text
    assert text.count(IMAGES) == 5
    # a table without this universe's rows is the same case
    other = hedge_rows().assign(universe="V")
    assert "The hedge split was not computed" in _page(tmp_path / "v", other)
