"""The matrix engine's kernel (country_flows/matrix.py) on numpy columns, no Spark: a case
worked out by hand (docs/methodology.md, "4. Fund-days", "5.2 The sums", "6. Single-country
funds"), the investor grain, and the 23rd rule on day numbers against calendar.alloc_month.

Countries AU, BR, CA (the kernel takes any tuple). Funds (key: domicile, weights):
  0: LU   January AU 60 / BR 30;  February AU 50 / BR 50
  1: AU   January AU 100;          February none
  2: BR   January BR 40 (AU 0 is not stored); February AU 20 / BR 80
  3: IE   single-country CA fund (weight 1 in CA every month)
  4: CA   single-country CA fund, domiciled in CA
  9: --   in no universe (its rows must be ignored)
Flow dates: 22 Mar 2022 (January's snapshot), 23 Mar 2022 (February's), 25 Apr 2022 (March's:
there is none, so only the single-country funds count).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from flowmosaic import calendar as cal
from flowmosaic.country_flows import matrix
from flowmosaic.country_flows.matrix import Plan, UniversePlan, Weights
from flowmosaic.tables import FUND_DAY_MEASURES, INVESTOR_TYPES, fund_day_column

D = dt.date
EPOCH = D(1970, 1, 1)
COUNTRIES = ("AU", "BR", "CA")
IDX = {c: i for i, c in enumerate(COUNTRIES)}
KEYS = np.array([0, 1, 2, 3, 4], dtype=np.int64)
DOMICILE = np.array(["LU", "AU", "BR", "IE", "CA"], dtype=object)
MAR22, MAR23, APR25 = D(2022, 3, 22), D(2022, 3, 23), D(2022, 4, 25)
NAN = np.nan


def day(d: dt.date) -> int:
    return (d - EPOCH).days


def weights(triples) -> Weights:
    return Weights(
        np.array([k for k, _, _ in triples], np.int32),
        np.array([IDX[c] for _, c, _ in triples], np.int16),
        np.array([w for _, _, w in triples], np.float64),
    )


MONTHS = {
    day(D(2022, 1, 1)): weights([(0, "AU", 0.6), (0, "BR", 0.3), (1, "AU", 1.0), (2, "BR", 0.4)]),
    day(D(2022, 2, 1)): weights([(0, "AU", 0.5), (0, "BR", 0.5), (2, "AU", 0.2), (2, "BR", 0.8)]),
}
SINGLE = Weights(np.array([3, 4], np.int64), np.array([IDX["CA"]] * 2, np.int64), np.ones(2))


def universe(name, types=INVESTOR_TYPES, ex_domestic=False, keys=KEYS) -> UniversePlan:
    sel = np.isin(KEYS, keys)
    dom = DOMICILE[sel]
    return UniversePlan(
        name,
        KEYS[sel],
        dom,
        np.array([IDX.get(d, -1) for d in dom], np.int64),
        tuple(types),
        ex_domestic,
    )


ALL = universe("All")
XDOM = universe("All-xdom", ex_domestic=True)
INST_XDOM = universe("Inst-xdom", types=("Institutional",), ex_domestic=True)

# (date, fund_key) -> {type: (flow, assets_start, portfolio_change)}; absent type = NULL columns
FUND_DAYS = {
    (MAR22, 0): {"Institutional": (10.0, 1000.0, 5.0), "Retail": (-4.0, 1000.0, 5.0)},
    (MAR22, 1): {"Institutional": (20.0, 500.0, 0.0), "Retail": (0.0, 500.0, 0.0)},
    (MAR22, 2): {"Institutional": (-3.0, 300.0, 3.0), "Retail": (1.0, 100.0, 1.0)},
    (MAR22, 3): {"Other": (7.0, 700.0, NAN)},  # a NULL portfolio change counts 0
    (MAR22, 4): {"Other": (1.0, 100.0, 2.0)},
    (MAR22, 9): {"Institutional": (99.0, 9900.0, 0.0)},
    (MAR23, 0): {"Institutional": (8.0, 1010.0, 0.0), "Retail": (2.0, 990.0, 0.0)},
    (MAR23, 1): {"Institutional": (5.0, 520.0, 0.0), "Retail": (5.0, 480.0, 0.0)},
    (MAR23, 2): {"Institutional": (1.0, 300.0, 0.0), "Retail": (3.0, 100.0, 0.0)},
    (MAR23, 3): {"Retail": (2.0, 200.0, 1.0)},
    (APR25, 0): {"Institutional": (7.0, 1000.0, 0.0)},
    (APR25, 3): {"Institutional": (-1.0, 650.0, 0.5)},
}


def columns(fund_days=FUND_DAYS, order=None) -> dict[str, np.ndarray]:
    items = list(fund_days.items())
    if order is not None:
        items = [items[i] for i in order]
    cols = {
        "flow_date": np.array([day(d) for (d, _), _ in items], np.int64),
        "fund_key": np.array([k for (_, k), _ in items], np.int64),
    }
    for t in INVESTOR_TYPES:
        for j, m in enumerate(FUND_DAY_MEASURES):
            cols[fund_day_column(m, t)] = np.array(
                [v[t][j] if t in v else NAN for _, v in items], np.float64
            )
    return cols


def plan(*universes, investor_grain=False) -> Plan:
    return Plan(COUNTRIES, list(universes), MONTHS, SINGLE, investor_grain)


def by_key(res: dict[str, np.ndarray], investor_grain=False) -> dict[tuple, tuple]:
    """{(universe, date[, domicile, type], country): (flow, assets, pc, count)}, asserting
    the keys are distinct."""
    out = {}
    for i in range(len(res["fund_count"])):
        key = (str(res["universe"][i]), EPOCH + dt.timedelta(days=int(res["flow_date"][i])))
        if investor_grain:
            key += (str(res["investor_domicile"][i]), str(res["investor_type"][i]))
        key += (str(res["country"][i]),)
        assert key not in out, key
        out[key] = (
            float(res["flow_usd"][i]),
            float(res["assets_start_usd"][i]),
            float(res["portfolio_change_usd"][i]),
            int(res["fund_count"][i]),
        )
    return out


def assert_rows(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, (f, a, p, n) in want.items():
        assert got[k][:3] == pytest.approx((f, a, p), rel=1e-12, abs=1e-12), k
        assert got[k][3] == n, k


# All types, not ex-domestic. Fund-days summed over types:
#   22 Mar: F0 6/2000/10, F1 20/1000/0, F2 -2/400/4, F3 7/700/0, F4 1/100/2
#   23 Mar: F0 10/2000/0, F1 10/1000/0 (no February weights), F2 4/400/0, F3 2/200/1
#   25 Apr: F0 7/1000/0 (no March weights), F3 -1/650/0.5
ALL_ROWS = {
    # AU: F0 6*.6 + F1 20 = 23.6 over 1200 + 1000; pc 10*.6; F2's AU weight (0) not stored
    ("All", MAR22, "AU"): (23.6, 2200.0, 6.0, 2),
    # BR: F0 6*.3 + F2 -2*.4 = 1.0 over 600 + 160; pc 3 + 1.6
    ("All", MAR22, "BR"): (1.0, 760.0, 4.6, 2),
    # CA: the single-country funds F3 7 + F4 1 over 700 + 100; pc 0 (NULL) + 2
    ("All", MAR22, "CA"): (8.0, 800.0, 2.0, 2),
    # AU: F0 10*.5 + F2 4*.2 = 5.8 over 1000 + 80; BR: 5 + 3.2 over 1000 + 320
    ("All", MAR23, "AU"): (5.8, 1080.0, 0.0, 2),
    ("All", MAR23, "BR"): (8.2, 1320.0, 0.0, 2),
    ("All", MAR23, "CA"): (2.0, 200.0, 1.0, 1),
    ("All", APR25, "CA"): (-1.0, 650.0, 0.5, 1),
}
# Ex-domestic: F1 (AU) not in AU, F2 (BR) not in BR, F4 (CA) not in CA.
XDOM_ROWS = {
    ("All-xdom", MAR22, "AU"): (3.6, 1200.0, 6.0, 1),
    ("All-xdom", MAR22, "BR"): (1.8, 600.0, 3.0, 1),
    ("All-xdom", MAR22, "CA"): (7.0, 700.0, 0.0, 1),
    ("All-xdom", MAR23, "AU"): (5.8, 1080.0, 0.0, 2),
    ("All-xdom", MAR23, "BR"): (5.0, 1000.0, 0.0, 1),
    ("All-xdom", MAR23, "CA"): (2.0, 200.0, 1.0, 1),
    ("All-xdom", APR25, "CA"): (-1.0, 650.0, 0.5, 1),
}
# Institutional and ex-domestic: F3 has an institutional class only on 25 Apr, F4 none.
#   22 Mar: AU F0 10*.6 over 600, pc 3; BR F0 10*.3 over 300, pc 1.5 (F1, F2 domestic only)
#   23 Mar: AU F0 8*.5 + F2 1*.2 = 4.2 over 505 + 60; BR F0 4 over 505
INST_XDOM_ROWS = {
    ("Inst-xdom", MAR22, "AU"): (6.0, 600.0, 3.0, 1),
    ("Inst-xdom", MAR22, "BR"): (3.0, 300.0, 1.5, 1),
    ("Inst-xdom", MAR23, "AU"): (4.2, 565.0, 0.0, 2),
    ("Inst-xdom", MAR23, "BR"): (4.0, 505.0, 0.0, 1),
    ("Inst-xdom", APR25, "CA"): (-1.0, 650.0, 0.5, 1),
}


def test_hand_computed_all_types():
    assert_rows(by_key(matrix.compute(plan(ALL), columns())), ALL_ROWS)


def test_hand_computed_ex_domestic():
    assert_rows(by_key(matrix.compute(plan(XDOM), columns())), XDOM_ROWS)


def test_hand_computed_institutional_ex_domestic():
    assert_rows(by_key(matrix.compute(plan(INST_XDOM), columns())), INST_XDOM_ROWS)


def test_two_universes_in_one_pass_and_row_order_does_not_matter():
    rng = np.random.default_rng(5)
    order = rng.permutation(len(FUND_DAYS))
    got = by_key(matrix.compute(plan(ALL, INST_XDOM, XDOM), columns(order=order)))
    assert_rows(got, {**ALL_ROWS, **INST_XDOM_ROWS, **XDOM_ROWS})


def test_a_universe_of_some_funds_only():
    # funds 0 and 3: AU/BR from F0 alone, CA from F3 alone
    got = by_key(matrix.compute(plan(universe("Two", keys=[0, 3])), columns()))
    assert_rows(
        got,
        {
            ("Two", MAR22, "AU"): (3.6, 1200.0, 6.0, 1),
            ("Two", MAR22, "BR"): (1.8, 600.0, 3.0, 1),
            ("Two", MAR22, "CA"): (7.0, 700.0, 0.0, 1),
            ("Two", MAR23, "AU"): (5.0, 1000.0, 0.0, 1),
            ("Two", MAR23, "BR"): (5.0, 1000.0, 0.0, 1),
            ("Two", MAR23, "CA"): (2.0, 200.0, 1.0, 1),
            ("Two", APR25, "CA"): (-1.0, 650.0, 0.5, 1),
        },
    )


def test_single_country_weight_alone():
    # only the single-country funds, no snapshots at all: weight 1 in CA on every date
    p = Plan(COUNTRIES, [ALL], {}, SINGLE)
    got = by_key(matrix.compute(p, columns()))
    assert_rows(
        got,
        {
            ("All", MAR22, "CA"): (8.0, 800.0, 2.0, 2),
            ("All", MAR23, "CA"): (2.0, 200.0, 1.0, 1),
            ("All", APR25, "CA"): (-1.0, 650.0, 0.5, 1),
        },
    )


def test_no_rows_and_no_members():
    empty = {k: v[:0] for k, v in columns().items()}
    res = matrix.compute(plan(ALL), empty)
    assert len(res["fund_count"]) == 0
    # a universe whose filter matches no fund: no rows, and the other universes unaffected
    nobody = universe("Nobody", keys=[])
    assert len(matrix.compute(plan(nobody), columns())["fund_count"]) == 0
    assert_rows(by_key(matrix.compute(plan(nobody, ALL), columns())), ALL_ROWS)
    alone = by_key(matrix.compute(plan(ALL, investor_grain=True), columns()), True)
    assert_rows(
        by_key(matrix.compute(plan(ALL, nobody, investor_grain=True), columns()), True), alone
    )


def test_investor_grain():
    got = by_key(matrix.compute(plan(ALL, investor_grain=True), columns()), investor_grain=True)
    # 22 Mar, AU: LU institutional F0 10*.6, LU retail -4*.6, AU institutional F1 20,
    # AU retail F1 0 (a reported 0 counts, with its assets)
    au = {k[2:4]: v for k, v in got.items() if k[:2] == ("All", MAR22) and k[4] == "AU"}
    assert_rows(
        au,
        {
            ("LU", "Institutional"): (6.0, 600.0, 3.0, 1),
            ("LU", "Retail"): (-2.4, 600.0, 3.0, 1),
            ("AU", "Institutional"): (20.0, 500.0, 0.0, 1),
            ("AU", "Retail"): (0.0, 500.0, 0.0, 1),
        },
    )
    # CA on 22 Mar: the single-country funds' "Other" classes, by domicile
    ca = {k[2:4]: v for k, v in got.items() if k[:2] == ("All", MAR22) and k[4] == "CA"}
    assert_rows(ca, {("IE", "Other"): (7.0, 700.0, 0.0, 1), ("CA", "Other"): (1.0, 100.0, 2.0, 1)})
    # summed over domicile and type, the investor grain gives the country grain (fund counts
    # do not add up: a fund with two types reporting counts once per type)
    summed: dict[tuple, list] = {}
    for (u, d, _dom, _t, c), (f, a, p, _n) in got.items():
        acc = summed.setdefault((u, d, c), [0.0, 0.0, 0.0])
        acc[0] += f
        acc[1] += a
        acc[2] += p
    assert set(summed) == set(ALL_ROWS)
    for k, (f, a, p, _n) in ALL_ROWS.items():
        assert summed[k] == pytest.approx([f, a, p], rel=1e-12, abs=1e-12), k


def test_investor_grain_keeps_the_universe_types():
    got = by_key(
        matrix.compute(plan(INST_XDOM, investor_grain=True), columns()), investor_grain=True
    )
    assert {k[3] for k in got} == {"Institutional"}
    assert got[("Inst-xdom", MAR23, "LU", "Institutional", "AU")] == pytest.approx(
        (4.0, 505.0, 0.0, 1)
    )
    assert got[("Inst-xdom", MAR23, "BR", "Institutional", "AU")] == pytest.approx(
        (0.2, 60.0, 0.0, 1)
    )


def test_alloc_month_days_is_the_23rd_rule_on_every_day_2019_2025():
    days = []
    d = D(2019, 1, 1)
    while d <= D(2025, 12, 31):
        days.append(d)
        d += dt.timedelta(days=1)
    got = matrix.alloc_month_days(np.array([day(x) for x in days], np.int64))
    want = np.array([day(cal.alloc_month(x)) for x in days], np.int64)
    assert len(days) == 2557
    mismatch = np.flatnonzero(got != want)
    assert not len(mismatch), [(days[i], got[i], want[i]) for i in mismatch[:5]]
