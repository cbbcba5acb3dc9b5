"""Country groups: regions and market classes over every destination (conf/countries.yaml's
market_groups / region_groups from conf/destinations.yaml), and a group's flow % as the ratio
of its members' sums, not an average of their percentages."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic.config import load_countries
from flowmosaic.errors import InputError
from flowmosaic.export.groups import group_flows, resolve_groups


def test_groups_cover_every_destination_of_their_kind():
    c = load_countries()
    assert set(c.groups["DM"]) == {d for d, m in c.markets.items() if m == "DM"}
    assert "VN" in c.groups["frontier"] and "CN" in c.groups["EM"]
    assert "NG" in c.groups["Middle East & Africa"] and "US" in c.groups["North America"]
    regions = resolve_groups("regions")
    assert sorted(regions) == [
        "Asia Pacific",
        "Europe",
        "Latin America",
        "Middle East & Africa",
        "North America",
    ]
    # every destination with a region is in exactly one region group
    members = [x for m in regions.values() for x in m]
    assert len(members) == len(set(members)) == sum(1 for r in c.regions.values() if r)
    assert list(resolve_groups("markets")) == ["DM", "EM", "frontier"]
    assert c.resolve("G10") == c.groups["G10"]
    with pytest.raises(InputError, match="unknown group"):
        resolve_groups("Atlantis")


def test_group_flow_pct_is_the_ratio_of_sums():
    d = dt.date(2024, 1, 2)
    rows = pd.DataFrame(
        {
            "flow_date": [d, d, d, d],
            "country": ["US", "JP", "VN", "NG"],
            "flow_usd": [10.0, -2.0, 1.0, 0.0],
            "assets_start_usd": [1000.0, 100.0, 10.0, 0.0],
        }
    )
    g = group_flows(rows, {"DM": ("US", "JP", "GB"), "frontier": ("VN", "NG"), "X": ("KE",)})
    dm = g[g["group"] == "DM"].iloc[0]
    # (10 - 2) / (1000 + 100) = 0.727 %, not the mean of 1 % and -2 % (-0.5 %)
    assert dm["flow_pct"] == pytest.approx(100 * 8 / 1100)
    assert dm["countries"] == 2
    fr = g[g["group"] == "frontier"].iloc[0]
    assert fr["flow_pct"] == pytest.approx(10.0) and fr["countries"] == 2
    assert "X" not in set(g["group"])  # no member has a row
    zero = group_flows(rows[rows["country"] == "NG"], {"f": ("NG",)})
    assert np.isnan(zero["flow_pct"].iloc[0])
