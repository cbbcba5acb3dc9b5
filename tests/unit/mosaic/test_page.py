"""The country page on a small constructed universe: sections, embedded images, CSVs, the
synthetic note, and header numbers worked out by hand from the construction."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from flowmosaic.errors import InputError
from flowmosaic.mosaic.page import write_country_page

BN = 1e9
# flow dates: weekdays from Wed 1 Nov 2023 to Fri 29 Mar 2024, without 25 Dec and 1 Jan
DATES = [
    d
    for d in pd.bdate_range("2023-11-01", "2024-03-29")
    if (d.month, d.day) not in ((12, 25), (1, 1))
]


def flows_and_holdings():
    """Per flow date (all US$):
    - US retail funds -> JP: -1bn a day, -2bn on Mondays; hold JP 20bn, US 180bn
    - LU institutional funds -> JP: +0.5bn a day; hold JP 10bn, US 30bn
    - JP retail funds -> JP: +1bn on Fridays; hold JP 60bn, US 40bn (no flow into US)
    """
    rows = []
    for d in DATES:
        us = -2.0 if d.weekday() == 0 else -1.0
        jp = 1.0 if d.weekday() == 4 else 0.0
        rows += [
            ("U", d, "US", "Retail", "JP", us * BN, 20 * BN),
            ("U", d, "US", "Retail", "US", 0.0, 180 * BN),
            ("U", d, "LU", "Institutional", "JP", 0.5 * BN, 10 * BN),
            ("U", d, "LU", "Institutional", "US", 0.0, 30 * BN),
            ("U", d, "JP", "Retail", "JP", jp * BN, 60 * BN),
            ("U", d, "JP", "Retail", "US", 0.0, 40 * BN),
        ]
    icf = pd.DataFrame(
        rows,
        columns=[
            "universe",
            "flow_date",
            "investor_domicile",
            "investor_type",
            "country",
            "flow_usd",
            "assets_start_usd",
        ],
    )
    icf["portfolio_change_usd"] = 0.0
    icf["fund_count"] = 3
    cf = icf.groupby(["universe", "flow_date", "country"], as_index=False)[
        ["flow_usd", "assets_start_usd", "portfolio_change_usd", "fund_count"]
    ].sum()
    cf["flow_pct"] = 100 * cf.flow_usd / cf.assets_start_usd
    cf["pseudo_return_pct"] = 0.0
    return icf, cf


def external_from(icf):
    """'ETF flows' (US$ bn): the non-resident (US + LU) weekly flow into JP, one week later."""
    nonres = icf[(icf.country == "JP") & (icf.investor_domicile != "JP")]
    daily = nonres.groupby("flow_date").flow_usd.sum()
    weekly = daily.groupby(daily.index.to_period("W-FRI")).sum()
    rows = [
        (
            p.end_time.normalize() + pd.Timedelta(weeks=1),
            "ETF flows",
            "JP",
            v / BN,
            "USD bn",
            "weekly",
        )
        for p, v in weekly.items()
    ]
    rows.append((pd.Timestamp("2024-01-31"), "other country", "KR", 1.0, "%", "monthly"))
    return pd.DataFrame(rows, columns=["date", "series", "country", "value", "unit", "frequency"])


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    icf, cf = flows_and_holdings()
    out = tmp_path_factory.mktemp("page")
    path = write_country_page(
        "JP",
        "U",
        icf,
        cf,
        external_from(icf),
        out,
        {"synthetic": True, "source": "test construction"},
        window=8,
        min_periods=4,
    )
    return path, path.read_text(encoding="utf-8")


def test_file_sections_and_images(page):
    path, text = page
    assert path.name == "mosaic-JP.html" and path.is_file()
    for title in (
        "Domestic, foreign and offshore flows",
        "Flows in % of holdings",
        "Who holds what: domicile x destination",
        "Home bias",
        "Persistence of foreign",
        "Other sources of the mosaic",
        "Parameters and data",
    ):
        assert title in text, title
    # cumulative, % of holdings, matrix, home bias, persistence, external, lead/lag
    assert text.count('src="data:image/png;base64,') == 7
    assert "<script" not in text.lower()
    assert "http://" not in text and "https://" not in text
    assert "Synthetic data: generated, not market data." in text


def test_header_numbers(page):
    _, text = page
    # 2024 flow dates to 29 March: 22 (Jan, without the 1st) + 21 (Feb) + 21 (Mar) = 64,
    # 12 of them Mondays (counted twice), 13 Fridays
    assert re.search(r'Foreign YTD</div><div class="v"><span class="neg">-\$76\.0bn</span>', text)
    # LU: 0.5bn x 64
    assert 'Offshore YTD</div><div class="v">+$32.0bn</div>' in text
    assert 'Domestic retail YTD</div><div class="v">+$13.0bn</div>' in text
    # no JP institutional funds: the group exists (LU has institutional share classes) with 0
    assert 'Domestic institutional YTD</div><div class="v">$0.0bn</div>' in text
    # every one of the 22 weeks (Fridays 3 Nov 2023 ... 29 Mar 2024) has foreign selling
    assert '<span class="neg">-22 wk</span>' in text
    assert "all investors domiciled outside JP: -$76.0bn YTD (to 2024-03-29)" in text


def test_home_bias_table(page):
    _, text = page
    # JP funds: 60 of 100 at home; US funds: 180 of 200 at home, JP = all of the foreign 20,
    # 10% of the total; LU: no home, JP 10 of 40 = 25%
    assert re.search(
        r"<td[^>]*>JP</td><td>100\.0</td><td>60\.0</td><td>40\.0</td>"
        r"<td>&ndash;</td><td>60\.0</td>",
        text,
    )
    assert re.search(
        r"<td[^>]*>US</td><td>200\.0</td><td>90\.0</td><td>10\.0</td>"
        r"<td>100\.0</td><td>10\.0</td>",
        text,
    )
    assert re.search(
        r"<td[^>]*>LU \(offshore\)</td><td>40\.0</td><td>&ndash;</td>"
        r"<td>&ndash;</td><td>&ndash;</td><td>25\.0</td>",
        text,
    )


def test_external_lead_lag_on_the_page(page):
    _, text = page
    # the external series is the non-resident weekly flow one week later: best lag +1, r 1
    row = re.search(r"<td[^>]*>ETF flows</td>(.*?)</tr>", text).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[1] == "sum" and cells[2] == "week"
    assert cells[6] == "+1" and cells[7] == "1.00"
    assert "other country" not in text  # KR's series is not shown on JP's page


def test_csvs_next_to_the_page(page):
    path, text = page
    names = {p.name for p in path.parent.glob("mosaic-JP-*.csv")}
    assert {
        "mosaic-JP-flows-daily.csv",
        "mosaic-JP-flows-weekly.csv",
        "mosaic-JP-flows-monthly.csv",
        "mosaic-JP-matrix-flows.csv",
        "mosaic-JP-matrix-holdings.csv",
        "mosaic-JP-home-bias.csv",
        "mosaic-JP-persistence.csv",
        "mosaic-JP-external-aligned.csv",
        "mosaic-JP-external-leadlag.csv",
        "mosaic-JP-external-summary.csv",
    } == names
    for n in names:
        assert f'href="{n}"' in text
    daily = pd.read_csv(path.parent / "mosaic-JP-flows-daily.csv")
    last = daily[(daily.group == "foreign") & (daily.investor_type == "All")].iloc[-1]
    assert last.date == "2024-03-29" and last.ytd_flow_usd == -76 * BN


def test_without_external_or_synthetic_flag(tmp_path):
    icf, cf = flows_and_holdings()
    path = write_country_page("JP", "U", icf, None, None, tmp_path, {}, window=8, min_periods=4)
    text = path.read_text(encoding="utf-8")
    assert "Synthetic data" not in text
    assert "No external series for this country." in text
    assert text.count('src="data:image/png;base64,') == 5
    with pytest.raises(InputError, match="no rows into BR"):
        write_country_page("BR", "U", icf, cf, None, tmp_path, {})


def test_external_series_without_overlap(tmp_path):
    icf, cf = flows_and_holdings()
    ext = pd.DataFrame(
        [
            ("2010-01-29", "old survey", "JP", 1.0, "%", "monthly"),
            ("2010-02-26", "old survey", "JP", 2.0, "%", "monthly"),
        ],
        columns=["date", "series", "country", "value", "unit", "frequency"],
    )
    text = write_country_page(
        "JP", "U", icf, cf, ext, tmp_path, {}, window=8, min_periods=4
    ).read_text(encoding="utf-8")
    assert "No period in common with the fund flows: old survey." in text
    assert text.count('src="data:image/png;base64,') == 5
