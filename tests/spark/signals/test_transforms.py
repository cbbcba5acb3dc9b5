"""The signals of docs/signals.md on its worked example (tiny frames): three funds, A and B in
focus G1, C in G2, countries X and Y. Month assets S = (100, 200, 50), E = (110, 190, 50);
the day's flows F = (+4, +6, -2); allocations old (April 2025) and new (May 2025):

    fund  old X  old Y  new X  new Y
    A     40     60     50     50
    B     30     70     25     75
    C     -      100    10     90

A flow on 2025-06-23 uses s = May and s-1 = April (the 23rd rule); May's monthly signals are
known on 2025-06-23. Every expected number is worked out by hand in the comments (C/X is in
the new snapshot only, so it is out of every signal built on a change of weights)."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from flowmosaic.signals import transforms as T

D = dt.date
APR, MAY = D(2025, 4, 1), D(2025, 5, 1)
DAY = D(2025, 6, 23)
FUNDS = {"A": 1, "B": 2, "C": 3}
FOCUS = {"A": "G1", "B": "G1", "C": "G2"}
S = {"A": 100.0, "B": 200.0, "C": 50.0}
E = {"A": 110.0, "B": 190.0, "C": 50.0}
FLOW = {"A": 4.0, "B": 6.0, "C": -2.0}
OLD = {("A", "X"): 40, ("A", "Y"): 60, ("B", "X"): 30, ("B", "Y"): 70, ("C", "Y"): 100}
NEW = {
    ("A", "X"): 50,
    ("A", "Y"): 50,
    ("B", "X"): 25,
    ("B", "Y"): 75,
    ("C", "X"): 10,
    ("C", "Y"): 90,
}


def frames(spark, old=OLD, new=NEW, flow=FLOW):
    """fund_flows: May's first day carries S, its last day E, and the day DAY the flows F;
    weights as fractions."""
    rows = []
    for f, k in FUNDS.items():
        rows.append((D(2025, 5, 1), k, 0.0, S[f], S[f]))
        rows.append((D(2025, 5, 30), k, 0.0, E[f], E[f]))
        rows.append((DAY, k, flow[f], E[f], E[f] + flow[f]))
    flows = spark.createDataFrame(
        rows, "flow_date date, fund_key int, flow double, assets_start double, assets_end double"
    )
    w = [(APR, FUNDS[f], c, p / 100.0) for (f, c), p in old.items()]
    w += [(MAY, FUNDS[f], c, p / 100.0) for (f, c), p in new.items()]
    weights = spark.createDataFrame(w, "alloc_month date, fund_key int, country string, w double")
    focus = spark.createDataFrame(
        [(FUNDS[f], g) for f, g in FOCUS.items()], "fund_key int, focus string"
    )
    return flows, weights, focus


def values(df, date) -> dict[tuple[str, str], float | None]:
    return {(r["signal"], r["country"]): r["value"] for r in df.where(df.date == date).collect()}


@pytest.fixture(scope="module")
def example(spark):
    flows, weights, focus = frames(spark)
    return (
        values(T.daily_signals(flows, weights, focus), DAY),
        values(T.monthly_signals(flows, weights, focus), DAY),
    )


# (signal, country) -> the hand-computed value
DAILY = {
    # sum F dw / sum |F dw|, dw in points: X: 4 x 10 + 6 x (-5) = 10 over 40 + 30 = 70;
    # Y: 4 x (-10) + 6 x 5 + (-2) x (-10) = 10 over 40 + 30 + 20 = 90
    ("FloTrend", "X"): 10 / 70,
    ("FloTrend", "Y"): 10 / 90,
    # sum F sgn(dw) / sum |F|: X: 4 - 6 = -2 over 10; Y: -4 + 6 + 2 = 4 over 12
    ("FloDiff", "X"): -2 / 10,
    ("FloDiff", "Y"): 4 / 12,
    # sum dw sgn(F) / sum |dw|: X: 10 - 5 = 5 over 15; Y: -10 + 5 + 10 = 5 over 25
    ("FloDiff2", "X"): 5 / 15,
    ("FloDiff2", "Y"): 5 / 25,
    # X: G1's average (50 x 110 + 25 x 190) / 300 = 34.1667, a_A = +15.8333, a_B = -9.1667;
    # C alone in G2: a_C = 0. sum F a = 63.3333 - 55 = 8.3333 over 63.3333 + 55 = 118.3333
    ("ActWtTrend", "X"): 8.333333333 / 118.333333333,
    # Y: G1's average (50 x 110 + 75 x 190) / 300 = 65.8333: a_A = -15.8333, a_B = +9.1667
    # (the mirror of X), a_C = 0: -63.3333 + 55 = -8.3333 over 118.3333
    ("ActWtTrend", "Y"): -8.333333333 / 118.333333333,
    # sum F sgn(a) / sum |F|: 4 - 6 + 0 = -2 over 4 + 6 + 2 = 12 (C adds its |F|)
    ("ActWtDiff", "X"): -2 / 12,
    ("ActWtDiff", "Y"): 2 / 12,
    # sum a sgn(F) / sum |a|: 15.8333 - 9.1667 + 0 = 6.6667 over 25
    ("ActWtDiff2", "X"): 6.666666667 / 25,
    ("ActWtDiff2", "Y"): -6.666666667 / 25,
}
MONTHLY = {
    # V = S + E = (210, 390, 100); AllocMo = 2 sum V dw / sum V (wn + wo), w as fractions:
    # X: 2 x (210 x 0.1 - 390 x 0.05) = 3 over 210 x 0.9 + 390 x 0.55 = 403.5
    ("AllocMo", "X"): 3 / 403.5,
    # Y: 2 x (-21 + 19.5 - 10) = -23 over 210 x 1.1 + 390 x 1.45 + 100 x 1.9 = 986.5
    ("AllocMo", "Y"): -23 / 986.5,
    # sum V dw / sum |V dw|: X: 1.5 over 21 + 19.5; Y: -11.5 over 21 + 19.5 + 10
    ("AllocTrend", "X"): 1.5 / 40.5,
    ("AllocTrend", "Y"): -11.5 / 50.5,
    # sum V sgn(dw) / sum V: X: 210 - 390 = -180 over 600; Y: -210 + 390 - 100 = 80 over 700
    ("AllocDiff", "X"): -180 / 600,
    ("AllocDiff", "Y"): 80 / 700,
    # sum A sgn(P - w) / sum A over holders, A = E: X: -110 + 190 + 0 over 350
    ("AllocSkew", "X"): 80 / 350,
    ("AllocSkew", "Y"): -80 / 350,
    # D = w A: X: 55, 47.5, 5: 1 - (3025 + 2256.25 + 25) / 107.5^2
    ("Herfindahl", "X"): 1 - 5306.25 / 107.5**2,
    # X: 1 - (0.25 + 0.0625 + 0.01) / 0.85^2
    ("HerfindahlEq", "X"): 1 - 0.3225 / 0.85**2,
    # funds with w > 0 in May: X 3, Y 3
    ("FundCt", "X"): 3,
    ("FundCt", "Y"): 3,
}


@pytest.mark.parametrize("key", sorted(DAILY))
def test_daily_signal_of_the_worked_example(example, key):
    assert example[0][key] == pytest.approx(DAILY[key], rel=1e-9)


@pytest.mark.parametrize("key", sorted(MONTHLY))
def test_monthly_signal_of_the_worked_example_is_known_on_the_23rd(example, key):
    assert example[1][key] == pytest.approx(MONTHLY[key], rel=1e-9)


def test_a_flow_before_the_23rd_uses_the_older_snapshots(spark):
    """A flow on 2025-06-20 uses s = April and s-1 = March: without a March snapshot no
    weight changes, so no flow-side signal; nothing of that day uses May's weights."""
    flows, weights, focus = frames(spark)
    early = flows.where(flows.flow_date == DAY).withColumn("flow_date", F.date_sub("flow_date", 3))
    got = T.daily_signals(early.unionByName(flows.where(flows.flow_date < DAY)), weights, focus)
    assert not [r for r in got.collect() if r["signal"].startswith("Flo")]


def test_unchanged_weights_leave_the_trends_missing_and_flodiff_zero(spark):
    """Every dw 0 (new = old where both exist): the denominators of FloTrend, FloDiff2 and
    AllocTrend are 0, so they are NULL, not 0; FloDiff is 0 (its denominator is sum |F|)."""
    same = {k: v for k, v in OLD.items()}
    flows, weights, focus = frames(spark, old=same, new=same)
    daily = values(T.daily_signals(flows, weights, focus), DAY)
    monthly = values(T.monthly_signals(flows, weights, focus), DAY)
    for c in ("X", "Y"):
        assert daily[("FloTrend", c)] is None and daily[("FloDiff2", c)] is None
        assert daily[("FloDiff", c)] == 0.0
        assert monthly[("AllocTrend", c)] is None
        assert monthly[("AllocMo", c)] == 0.0  # its denominator is the level, not the change
