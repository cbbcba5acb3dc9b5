"""conf/destinations.yaml and conf/countries.yaml: every ISO 3166-1 alpha-2 destination, the
published 52 among them, codes resolved and ordered."""

import pytest

from flowmosaic.config import ConfigError, load_countries


def test_destinations_hold_the_52_and_real_codes_beyond_them():
    c = load_countries()
    assert len(c.destinations) == len(set(c.destinations)) >= 240
    assert set(c.published_order) <= set(c.destinations)
    for code in ("VN", "NG", "KE", "LU", "RO", "NO"):
        assert code in c.destinations, code
    assert "XX" not in c.destinations and "EU" not in c.destinations
    assert c.names["VN"] == "Vietnam" and c.names["NO"] == "Norway"


def test_resolve_accepts_any_destination_and_names_what_it_does_not_know():
    c = load_countries()
    assert c.resolve(None) == c.published_order
    assert c.resolve("vn, NG,AU") == ("VN", "NG", "AU")
    assert c.resolve("G10") == c.groups["G10"]
    with pytest.raises(ConfigError, match=r"unknown country code\(s\) \['XX'\]"):
        c.resolve("AU,XX")


def test_ordered_puts_the_published_order_first_then_the_others_alphabetically():
    c = load_countries()
    first, second = c.published_order[0], c.published_order[1]
    assert c.ordered({"VN", second, "KE", first}) == (first, second, "KE", "VN")
