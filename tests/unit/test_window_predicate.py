"""storage.date_window_predicate: a window of whole months (from a month's first flow date to
another's last) names the month partitions only, so Delta replaces them without reading a
file; any other window keeps its date bounds. Dates checked against the calendar by hand."""

import datetime as dt

import pytest

from flowmosaic.storage import date_window_predicate

D = dt.date


@pytest.mark.parametrize(
    "start, end, last_month",
    [
        (D(2020, 3, 2), D(2020, 4, 30), "2020-04-01"),  # 1 March 2020 is a Sunday
        (D(2020, 3, 1), D(2020, 4, 30), "2020-04-01"),  # from the 1st (not a flow date) too
        (D(2020, 3, 2), D(2020, 5, 30), "2020-05-01"),  # Saturday 30 May: Friday 29th is last
    ],
)
def test_whole_months_are_replaced_by_partition(start, end, last_month):
    p = date_window_predicate(start, end, "flow_date", "flow_month", "universe IN ('U')")
    assert p == (
        f"universe IN ('U') AND flow_month >= DATE'2020-03-01' AND flow_month <= DATE'{last_month}'"
    )


@pytest.mark.parametrize(
    "start, end",
    [
        (D(2020, 3, 3), D(2020, 4, 30)),  # Monday 2 March is left out
        (D(2020, 3, 2), D(2020, 4, 29)),  # Thursday 30 April is left out
        (D(2020, 2, 29), D(2020, 4, 30)),  # a Saturday, after February's flow dates
    ],
)
def test_part_of_a_month_keeps_the_date_bounds(start, end):
    p = date_window_predicate(start, end, "flow_date", "flow_month")
    months = f"flow_month >= DATE'{start.replace(day=1)}' AND flow_month <= DATE'2020-04-01'"
    assert p == f"flow_date >= DATE'{start}' AND flow_date <= DATE'{end}' AND " + months
