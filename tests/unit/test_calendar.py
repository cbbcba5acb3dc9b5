"""The flow calendar and the 23rd rule at their edges (methodology.md sections 2-3)."""

import datetime as dt

import pytest

from flowmosaic import calendar as cal

D = dt.date


@pytest.mark.parametrize(
    "day,expected",
    [
        (D(2022, 1, 1), False),  # 1 Jan (a Saturday anyway)
        (D(2021, 1, 1), False),  # 1 Jan on a Friday
        (D(2020, 12, 25), False),  # 25 Dec on a Friday
        (D(2020, 12, 24), True),
        (D(2020, 12, 28), True),  # Boxing Day observed elsewhere: still a flow date
        (D(2022, 2, 5), False),  # Saturday
        (D(2022, 2, 6), False),  # Sunday
        (D(2022, 2, 7), True),
        (D(2020, 2, 29), False),  # leap day on a Saturday
        (D(2024, 2, 29), True),  # leap day on a Thursday
    ],
)
def test_is_flow_date(day, expected):
    assert cal.is_flow_date(day) is expected


def test_flow_dates_of_a_year_count():
    # 2021: 261 weekdays, minus 1 Jan (Fri); 25 Dec is a Saturday -> 260
    assert len(cal.flow_dates(D(2021, 1, 1), D(2021, 12, 31))) == 260
    # 2020 (leap): 262 weekdays, 1 Jan (Wed) and 25 Dec (Fri) removed -> 260
    assert len(cal.flow_dates(D(2020, 1, 1), D(2020, 12, 31))) == 260


@pytest.mark.parametrize(
    "day,month",
    [
        (D(2022, 3, 22), D(2022, 1, 1)),  # 22nd: two months back
        (D(2022, 3, 23), D(2022, 2, 1)),  # 23rd: previous month
        (D(2022, 3, 31), D(2022, 2, 1)),
        (D(2022, 3, 1), D(2022, 1, 1)),
        (D(2022, 1, 22), D(2021, 11, 1)),  # January, year roll-back by two
        (D(2022, 1, 23), D(2021, 12, 1)),  # January, year roll-back by one
        (D(2022, 2, 3), D(2021, 12, 1)),  # February, day <= 22 -> December
        (D(2022, 2, 23), D(2022, 1, 1)),
        (D(2024, 2, 29), D(2024, 1, 1)),  # leap day
        (D(2020, 12, 24), D(2020, 11, 1)),
    ],
)
def test_alloc_month(day, month):
    assert cal.alloc_month(day) == month


def test_23rd_on_a_weekend_switches_on_the_next_flow_date():
    # 23 April 2022 is a Saturday: Friday 22nd uses February, Monday 25th uses March.
    assert D(2022, 4, 23).weekday() == 5
    fds = cal.flow_dates(D(2022, 4, 21), D(2022, 4, 26))
    assert [cal.alloc_month(d) for d in fds] == [D(2022, 2, 1)] * 2 + [D(2022, 3, 1)] * 2


def test_applicable_window_is_23rd_to_22nd():
    start, end = cal.applicable_window(D(2021, 11, 1))
    assert (start, end) == (D(2021, 12, 23), D(2022, 1, 22))
    # every day inside maps back to November, the days either side do not
    d = start
    while d <= end:
        assert cal.alloc_month(d) == D(2021, 11, 1)
        d += dt.timedelta(days=1)
    assert cal.alloc_month(start - dt.timedelta(days=1)) != D(2021, 11, 1)
    assert cal.alloc_month(end + dt.timedelta(days=1)) != D(2021, 11, 1)


def test_shift_flow_dates_skips_weekends_and_holidays():
    assert cal.shift_flow_dates(D(2020, 12, 24), 1) == D(2020, 12, 28)
    assert cal.shift_flow_dates(D(2022, 2, 4), -2) == D(2022, 2, 2)
    assert cal.shift_flow_dates(D(2021, 1, 4), -1) == D(2020, 12, 31)
    with pytest.raises(ValueError):
        cal.shift_flow_dates(D(2022, 2, 5), 1)


def test_parse_date_formats_and_error():
    assert cal.parse_date("20220204") == D(2022, 2, 4)
    assert cal.parse_date("2022-02-04") == D(2022, 2, 4)
    with pytest.raises(ValueError, match="2022-13-01"):
        cal.parse_date("2022-13-01")
