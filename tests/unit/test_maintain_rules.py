"""The pure parts of `flowmosaic maintain` (no Spark): reading Delta's interval properties,
the partition predicate OPTIMIZE gets, and which tables are Z-ordered."""

from __future__ import annotations

import datetime as dt

import pytest

from flowmosaic.maintain import ZORDER, interval_hours, partition_predicate
from flowmosaic.tables import COMMON_PROPERTIES, TABLES, table


@pytest.mark.parametrize(
    "text, hours",
    [
        ("interval 7 days", 168),
        ("interval 30 days", 720),
        ("interval 1 week", 168),
        ("168 hours", 168),
        ("interval 90 minutes", 1.5),
        ("INTERVAL 1 Second", 1 / 3600),
        ("", None),
        (None, None),
        ("seven days", None),
        ("interval 7 fortnights", None),
    ],
)
def test_interval_hours(text, hours):
    assert interval_hours(text) == (pytest.approx(hours) if hours is not None else None)


def test_the_default_retentions_read_as_hours():
    assert interval_hours(COMMON_PROPERTIES["delta.deletedFileRetentionDuration"]) == 168
    assert interval_hours(COMMON_PROPERTIES["delta.logRetentionDuration"]) == 720


def test_partition_predicate_quotes_by_type():
    assert partition_predicate(table("country_flows"), [("FloPctCtry-B",), ("it's",)]) == (
        "(`universe` = 'FloPctCtry-B') OR (`universe` = 'it\\'s')"
    )
    assert partition_predicate(table("fund_days"), [(dt.date(2024, 2, 1),), (None,)]) == (
        "(`flow_month` = DATE'2024-02-01') OR (`flow_month` IS NULL)"
    )


def test_zorder_only_on_date_bearing_tables_by_a_column_that_is_not_a_partition():
    for name, cols in ZORDER.items():
        t = TABLES[name]
        assert set(cols) <= set(t.columns) and not set(cols) & set(t.partition_by)
    assert set(ZORDER) == {
        "share_class_flows",
        "fund_days",
        "country_flows",
        "investor_country_flows",
        "investor_hedge_flows",
    }
