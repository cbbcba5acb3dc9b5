"""analyses.hedge_split (the mosaic page's hedge panel) on a tiny hand-made
investor_hedge_flows frame. Destination US; domiciles DE and JP are foreign, US domestic, LU
offshore. Flow dates Mon 2024-07-29 to Thu 2024-08-01 (a month end inside). Every expected
number below is worked out by hand from ROWS.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic.errors import InputError
from flowmosaic.mosaic import analyses as an

COLS = list(an.IHF_COLUMNS) + ["portfolio_change_usd", "fund_count"]
H, UH, UK = "hedged", "unhedged", "unknown"
ROWS = [
    # date        domicile status country flow assets
    ("2024-07-29", "DE", H, "US", 10, 100),
    ("2024-07-29", "DE", UH, "US", -4, 300),
    ("2024-07-29", "JP", UK, "US", 2, 100),
    ("2024-07-29", "US", UH, "US", 50, 1000),  # domestic: not foreign
    ("2024-07-29", "LU", H, "US", 7, 70),  # offshore: not foreign
    ("2024-07-30", "DE", H, "US", 5, 110),
    ("2024-07-30", "JP", H, "US", 1, 50),  # two foreign domiciles, one status: 6 / 160
    ("2024-07-31", "DE", UH, "US", -6, 296),
    ("2024-07-31", "DE", H, "JP", 9, 90),  # another destination
    ("2024-08-01", "DE", H, "US", -2, 115),
    ("2024-08-01", "DE", UH, "US", 3, 290),
    ("2024-08-01", "JP", UK, "US", 0, 102),
]
DATES = pd.to_datetime(["2024-07-29", "2024-07-30", "2024-07-31", "2024-08-01"])


def make_ihf(rows=ROWS) -> pd.DataFrame:
    out = [("U", d, dom, s, c, float(f), float(a), 0.0, 1) for d, dom, s, c, f, a in rows]
    out.append(("V", "2024-07-29", "DE", H, "US", 999.0, 999.0, 0.0, 1))  # another universe
    return pd.DataFrame(out, columns=COLS)


def test_daily_split_by_status_cumulative_and_implied_currency_flow():
    t = an.hedge_split(make_ihf(), "US", "U")
    assert list(t.columns) == an.HEDGE_COLUMNS
    assert list(t.date) == list(DATES) and set(t.group) == {"foreign"}
    # flows by status (0 on a day without a row), summed over DE and JP
    assert list(t.hedged_flow_usd) == [10, 6, 0, -2]
    assert list(t.unhedged_flow_usd) == [-4, 0, -6, 3]
    assert list(t.unknown_flow_usd) == [2, 0, 0, 0]
    assert list(t.cum_hedged_flow_usd) == [10, 16, 16, 14]
    assert list(t.cum_unhedged_flow_usd) == [-4, -4, -10, -7]
    assert list(t.cum_unknown_flow_usd) == [2, 2, 2, 2]
    # the currency bought is the unhedged flow; a hedged class sells it forward again
    assert list(t.implied_fx_flow_usd) == [-4, 0, -6, 3]
    assert list(t.cum_implied_fx_flow_usd) == [-4, -4, -10, -7]
    # holdings: missing on a day without a row of that status
    np.testing.assert_array_equal(t.hedged_assets_usd, [100, 160, np.nan, 115])
    np.testing.assert_array_equal(t.unhedged_assets_usd, [300, np.nan, 296, 290])
    np.testing.assert_array_equal(t.unknown_assets_usd, [100, np.nan, np.nan, 102])
    # hedge ratio: 100 / (100 + 300); 160 / 160; 0 / 296; 115 / (115 + 290)
    np.testing.assert_allclose(t.hedge_ratio_pct, [25.0, 100.0, 0.0, 100 * 115 / 405])
    # flagged share of the holdings: 400 / 500; 160 / 160; 296 / 296; 405 / 507
    np.testing.assert_allclose(t.flagged_pct, [80.0, 100.0, 100.0, 100 * 405 / 507])


def test_monthly_periods_take_the_first_day_with_holdings():
    t = an.hedge_split(make_ihf(), "US", "U", "M").set_index("date")
    assert list(t.index) == list(pd.to_datetime(["2024-07-31", "2024-08-31"]))
    # July: 10 + 6 + 0, -4 + 0 - 6, 2; August: the one day
    assert list(t.hedged_flow_usd) == [16, -2]
    assert list(t.unhedged_flow_usd) == [-10, 3]
    assert list(t.unknown_flow_usd) == [2, 0]
    assert list(t.cum_hedged_flow_usd) == [16, 14]
    assert list(t.cum_implied_fx_flow_usd) == [-10, -7]
    # holdings of 29 July and 1 August
    assert list(t.hedged_assets_usd) == [100, 115]
    assert list(t.unhedged_assets_usd) == [300, 290]
    np.testing.assert_allclose(t.hedge_ratio_pct, [25.0, 100 * 115 / 405])


def test_summary_and_text():
    t = an.hedge_split(make_ihf(), "US", "U")
    s = an.hedge_summary(t)
    assert (s["hedged"], s["unhedged"], s["unknown"], s["implied_fx"]) == (14, -7, 2, -7)
    assert s["hedge_ratio_start"] == 25.0
    assert s["hedge_ratio_end"] == pytest.approx(100 * 115 / 405)
    assert an.hedge_text(t) == (
        "foreign investors into US, 2024-07-29 to 2024-08-01: +$14 through hedged share "
        "classes, -$7 through unhedged ones, +$2 through classes without a hedge flag; implied net "
        "purchase of US's currency -$7; hedge ratio of their holdings 25.0% -> 28.4%"
    )


def test_other_groups_and_no_rows():
    dom = an.hedge_split(make_ihf(), "US", "U", group="domestic")
    assert list(dom.unhedged_flow_usd) == [50, 0, 0, 0] and dom.hedged_flow_usd.sum() == 0
    off = an.hedge_split(make_ihf(), "US", "U", group="offshore")
    assert list(off.hedged_flow_usd) == [7, 0, 0, 0]
    # offshore_map: LU counted as a foreign domicile for everyone
    mapped = an.hedge_split(make_ihf(), "US", "U", offshore_map={"LU": "Europe"})
    assert list(mapped.hedged_flow_usd) == [17, 6, 0, -2]
    # no foreign rows into GB: an empty table with the columns
    none = an.hedge_split(make_ihf(), "GB", "U")
    assert none.empty and list(none.columns) == an.HEDGE_COLUMNS
    assert an.hedge_summary(none) == {} and an.hedge_text(none) == "no data"
    # a window
    w = an.hedge_split(make_ihf(), "US", "U", start="2024-07-30", end="2024-07-31")
    assert list(w.cum_hedged_flow_usd) == [6, 6]


def test_flags_delivered_and_errors():
    assert an.hedge_flags_delivered(make_ihf(), "U")
    unknown = [(d, dom, UK, c, f, a) for d, dom, _s, c, f, a in ROWS]
    assert not an.hedge_flags_delivered(make_ihf(unknown), "U")
    with pytest.raises(InputError, match="universe 'W' not in investor_hedge_flows"):
        an.hedge_split(make_ihf(), "US", "W")
    with pytest.raises(InputError, match="lacks column"):
        an.hedge_split(make_ihf().drop(columns="hedge_status"), "US", "U")
    with pytest.raises(ValueError, match="group must be"):
        an.hedge_split(make_ihf(), "US", "U", group="all")
