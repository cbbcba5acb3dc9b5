"""investor_hedge_flows (country_flows/hedge.py) on a hand-built silver warehouse: every row
worked out by hand below, the sum over hedge status equal to investor_country_flows' sum over
investor type, and the commit style of the gold jobs (one replaceWhere per window, idempotent,
the silver versions in userMetadata).

Silver is written directly as the tables the jobs read (funds, share_classes,
share_class_flows, fund_allocations, and fund_days built from the share-class rows by ingest's
own fund_days.from_share_class_flows), created from their definitions with storage.ensure.

Two flow dates on both sides of the 23rd rule (docs/methodology.md, section 3):
  Mon 2024-05-20 (day 20): the March 2024 snapshot;  Thu 2024-05-23 (day 23): April's.

Bond funds (all in both universes' asset class):
  fund  domicile  mandate                     snapshots (percent)
  A     DE        cross-border                March: US 50, JP 40;  April: US 80, JP 10
  B     LU        cross-border                April: US 60, DE 30 (none for March)
  C     JP        single-country US (focus)   never (weight 1 in US, every month)
  D     US        cross-border                April: US 70, JP 20
  E     GB        single-country GB           never (weight 1 in GB)
  F     DE        cross-border                April: US 50

Share classes (type, Hedged flag) and their rows (Flow / AssetsStart / PortfolioChange):
  class  type  hedged   2024-05-20          2024-05-23
  A1     Inst  true     10 / 1000 / 1       8 / 1010 / 0
  A2     Ret   false    -4 / 500 / 2        2 / 498 / 1
  A3     Inst  NULL     6 / 200 / NULL      (no row)
  B1     Inst  true     20 / 2000 / 0       -10 / 2020 / 3
  B2     Ret   true     5 / 100 / 0         4 / 105 / 0
  C1     Inst  false    -3 / 300 / 0.5      1 / 297 / 0
  C2     Inst  true     7 / 700 / -1        -2 / 707 / 0
  D1     Inst  NULL     50 / 4000 / 0       30 / 4050 / 5
  E1     Inst  false    2 / 100 / 0         -1 / 102 / 0
  F1     Ret   true     (no row)            12 / 600 / 0

Universes: ALL (asset_class [B]: every share class, no ex-domestic) and XDOM (asset_class [B],
investor_type [Institutional], ex_domestic: true).
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.country_flows import hedge
from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.ingest.fund_days import from_share_class_flows
from flowmosaic.tables import table
from tests.support.cli import run_in_session

D = dt.date
MON, THU = D(2024, 5, 20), D(2024, 5, 23)
UNIVERSES = """universes:
  ALL:
    asset_class: [B]
  XDOM:
    asset_class: [B]
    investor_type: [Institutional]
    ex_domestic: true
"""
# fund: (key, domicile, geographic_focus, cross_border)
FUNDS = {
    "A": (0, "DE", "Global", True),
    "B": (1, "LU", "Global", True),
    "C": (2, "JP", "US", False),
    "D": (3, "US", "Global", True),
    "E": (4, "GB", "GB", False),
    "F": (5, "DE", "Global", True),
}
# share class: (key, fund, investor type, hedged)
CLASSES = {
    "A1": (0, "A", "Institutional", True),
    "A2": (1, "A", "Retail", False),
    "A3": (2, "A", "Institutional", None),
    "B1": (3, "B", "Institutional", True),
    "B2": (4, "B", "Retail", True),
    "C1": (5, "C", "Institutional", False),
    "C2": (6, "C", "Institutional", True),
    "D1": (7, "D", "Institutional", None),
    "E1": (8, "E", "Institutional", False),
    "F1": (9, "F", "Retail", True),
}
# (date, class, flow, assets_start, portfolio_change)
FLOWS = [
    (MON, "A1", 10.0, 1000.0, 1.0),
    (MON, "A2", -4.0, 500.0, 2.0),
    (MON, "A3", 6.0, 200.0, None),
    (MON, "B1", 20.0, 2000.0, 0.0),
    (MON, "B2", 5.0, 100.0, 0.0),
    (MON, "C1", -3.0, 300.0, 0.5),
    (MON, "C2", 7.0, 700.0, -1.0),
    (MON, "D1", 50.0, 4000.0, 0.0),
    (MON, "E1", 2.0, 100.0, 0.0),
    (THU, "A1", 8.0, 1010.0, 0.0),
    (THU, "A2", 2.0, 498.0, 1.0),
    (THU, "B1", -10.0, 2020.0, 3.0),
    (THU, "B2", 4.0, 105.0, 0.0),
    (THU, "C1", 1.0, 297.0, 0.0),
    (THU, "C2", -2.0, 707.0, 0.0),
    (THU, "D1", 30.0, 4050.0, 5.0),
    (THU, "E1", -1.0, 102.0, 0.0),
    (THU, "F1", 12.0, 600.0, 0.0),
]
# (allocation month, fund, country, percent)
ALLOCS = [
    (D(2024, 3, 1), "A", "US", 50.0),
    (D(2024, 3, 1), "A", "JP", 40.0),
    (D(2024, 4, 1), "A", "US", 80.0),
    (D(2024, 4, 1), "A", "JP", 10.0),
    (D(2024, 4, 1), "B", "US", 60.0),
    (D(2024, 4, 1), "B", "DE", 30.0),
    (D(2024, 4, 1), "D", "US", 70.0),
    (D(2024, 4, 1), "D", "JP", 20.0),
    (D(2024, 4, 1), "F", "US", 50.0),
]

# (universe, date, investor_domicile, hedge_status, country):
#     (flow_usd, assets_start_usd, portfolio_change_usd, fund_count)
EXPECTED = {
    # ALL, Mon 20 May, March weights: A (US 0.5, JP 0.4), C (US 1), E (GB 1); B, D and F have
    # no March snapshot and do not count. A's classes are one status each:
    ("ALL", MON, "DE", "hedged", "US"): (5.0, 500.0, 0.5, 1),  # A1: 10 x .5, 1000 x .5, 1 x .5
    ("ALL", MON, "DE", "hedged", "JP"): (4.0, 400.0, 0.4, 1),  # A1 x .4
    ("ALL", MON, "DE", "unhedged", "US"): (-2.0, 250.0, 1.0, 1),  # A2: -4 x .5, 500 x .5, 2 x .5
    ("ALL", MON, "DE", "unhedged", "JP"): (-1.6, 200.0, 0.8, 1),  # A2 x .4
    ("ALL", MON, "DE", "unknown", "US"): (3.0, 100.0, 0.0, 1),  # A3: 6 x .5, 200 x .5, NULL -> 0
    ("ALL", MON, "DE", "unknown", "JP"): (2.4, 80.0, 0.0, 1),  # A3 x .4
    ("ALL", MON, "JP", "hedged", "US"): (7.0, 700.0, -1.0, 1),  # C2 x 1 (single-country)
    ("ALL", MON, "JP", "unhedged", "US"): (-3.0, 300.0, 0.5, 1),  # C1 x 1
    ("ALL", MON, "GB", "unhedged", "GB"): (2.0, 100.0, 0.0, 1),  # E1 x 1
    # ALL, Thu 23 May, April weights: A (US .8, JP .1), B (US .6, DE .3), D (US .7, JP .2),
    # F (US .5), C and E as before; A3 has no row
    ("ALL", THU, "DE", "hedged", "US"): (12.4, 1108.0, 0.0, 2),  # A1 8 x .8 + F1 12 x .5;
    # assets 1010 x .8 + 600 x .5 = 808 + 300; two funds (A, F) of domicile DE
    ("ALL", THU, "DE", "hedged", "JP"): (0.8, 101.0, 0.0, 1),  # A1 x .1
    ("ALL", THU, "DE", "unhedged", "US"): (1.6, 398.4, 0.8, 1),  # A2: 2 x .8, 498 x .8, 1 x .8
    ("ALL", THU, "DE", "unhedged", "JP"): (0.2, 49.8, 0.1, 1),  # A2 x .1
    # B1 + B2, both hedged, summed to one fund-day first: -6 / 2125 / 3, one fund
    ("ALL", THU, "LU", "hedged", "US"): (-3.6, 1275.0, 1.8, 1),  # x .6
    ("ALL", THU, "LU", "hedged", "DE"): (-1.8, 637.5, 0.9, 1),  # x .3
    ("ALL", THU, "JP", "hedged", "US"): (-2.0, 707.0, 0.0, 1),  # C2
    ("ALL", THU, "JP", "unhedged", "US"): (1.0, 297.0, 0.0, 1),  # C1
    ("ALL", THU, "US", "unknown", "US"): (21.0, 2835.0, 3.5, 1),  # D1: 30 x .7, 4050 x .7, 5 x .7
    ("ALL", THU, "US", "unknown", "JP"): (6.0, 810.0, 1.0, 1),  # D1 x .2
    ("ALL", THU, "GB", "unhedged", "GB"): (-1.0, 102.0, 0.0, 1),  # E1
    # XDOM: institutional classes only (A1, A3, B1, C1, C2, D1, E1); a fund adds nothing to
    # its domicile's country: E (GB in GB) never counts, D loses its US weight
    ("XDOM", MON, "DE", "hedged", "US"): (5.0, 500.0, 0.5, 1),
    ("XDOM", MON, "DE", "hedged", "JP"): (4.0, 400.0, 0.4, 1),
    ("XDOM", MON, "DE", "unknown", "US"): (3.0, 100.0, 0.0, 1),
    ("XDOM", MON, "DE", "unknown", "JP"): (2.4, 80.0, 0.0, 1),
    ("XDOM", MON, "JP", "hedged", "US"): (7.0, 700.0, -1.0, 1),
    ("XDOM", MON, "JP", "unhedged", "US"): (-3.0, 300.0, 0.5, 1),
    ("XDOM", THU, "DE", "hedged", "US"): (6.4, 808.0, 0.0, 1),  # A1 only (F1 is retail)
    ("XDOM", THU, "DE", "hedged", "JP"): (0.8, 101.0, 0.0, 1),
    ("XDOM", THU, "LU", "hedged", "US"): (-6.0, 1212.0, 1.8, 1),  # B1 only: -10 x .6, 2020 x .6
    ("XDOM", THU, "LU", "hedged", "DE"): (-3.0, 606.0, 0.9, 1),  # B1 x .3
    ("XDOM", THU, "JP", "hedged", "US"): (-2.0, 707.0, 0.0, 1),
    ("XDOM", THU, "JP", "unhedged", "US"): (1.0, 297.0, 0.0, 1),
    ("XDOM", THU, "US", "unknown", "JP"): (6.0, 810.0, 1.0, 1),  # D1 x .2; no US row
}


def _quiet(_message: str) -> None:
    return None


def _write_silver(spark, settings) -> None:
    funds = [
        (key, name, "B", focus, cross, dom, "A", "MF")
        for name, (key, dom, focus, cross) in FUNDS.items()
    ]
    classes = [
        (key, name, FUNDS[fund][0], fund, itype, "USD", hedged)
        for name, (key, fund, itype, hedged) in CLASSES.items()
    ]
    flows = [
        (d, CLASSES[s][0], FUNDS[CLASSES[s][1]][0], f, a, None, pc, None, False, d.replace(day=1))
        for d, s, f, a, pc in FLOWS
    ]
    allocs = [(m, cal.month_end(m), FUNDS[f][0], c, p) for m, f, c, p in ALLOCS]
    frames = {
        "funds": spark.createDataFrame(funds, table("funds").schema),
        "share_classes": spark.createDataFrame(classes, table("share_classes").schema),
        "share_class_flows": spark.createDataFrame(flows, table("share_class_flows").schema),
        "fund_allocations": spark.createDataFrame(allocs, table("fund_allocations").schema),
    }
    frames["fund_days"] = from_share_class_flows(
        frames["share_class_flows"], frames["share_classes"]
    )
    for name, df in frames.items():
        storage.append(df, storage.ensure(spark, settings, name), {"job": "test-fixture"})


@pytest.fixture(scope="module")
def wh(spark, make_settings, tmp_path_factory):
    base = tmp_path_factory.mktemp("hedge")
    settings = make_settings(base / "wh")
    _write_silver(spark, settings)
    universes = base / "universes.yaml"
    universes.write_text(UNIVERSES)
    common = dict(universes_path=str(universes), progress=_quiet)
    runs = {
        "investor": country_flows_run(spark, settings, "ALL,XDOM", grain="investor", **common),
        "hedge": hedge.run(spark, settings, "ALL,XDOM", **common),
    }
    return settings, str(universes), runs


def test_share_classes_without_the_flag_are_unknown(spark):
    """A share_classes table written before the hedge flag existed (no `hedged` column): every
    class is unknown; a NULL flag is unknown too. Investor types as fund_days codes them."""
    old = spark.createDataFrame([(0, "Retail"), (1, None)], "share_key int, investor_type string")
    new = spark.createDataFrame(
        [(0, "Institutional", True), (1, "retail", False), (2, "Retail", None)],
        "share_key int, investor_type string, hedged boolean",
    )
    assert [tuple(r) for r in hedge.class_attributes(old).collect()] == [
        (0, 1, "unknown"),
        (1, 2, "unknown"),
    ]
    assert [tuple(r) for r in hedge.class_attributes(new).collect()] == [
        (0, 0, "hedged"),
        (1, 2, "unhedged"),
        (2, 1, "unknown"),
    ]


def _rows(spark, settings, name="investor_hedge_flows", version=None):
    return storage.read_table(spark, settings, name, version).toPandas()


def test_every_row_as_worked_out_by_hand(spark, wh):
    settings, _u, runs = wh
    assert (runs["hedge"].start, runs["hedge"].end) == (MON, THU)
    got = _rows(spark, settings)
    assert set(got.columns) == {*table("investor_hedge_flows").columns, "flow_month"}
    key = ["universe", "flow_date", "investor_domicile", "hedge_status", "country"]
    values = ["flow_usd", "assets_start_usd", "portfolio_change_usd", "fund_count"]
    found = {tuple(r[:5]): tuple(r[5:]) for r in got[key + values].itertuples(index=False)}
    assert set(found) == set(EXPECTED)
    for k, want in EXPECTED.items():
        assert found[k][:3] == pytest.approx(want[:3], abs=1e-9), k
        assert found[k][3] == want[3], k
    assert runs["hedge"].rows_written == len(EXPECTED)


def test_hedge_status_adds_up_to_the_investor_types(spark, wh):
    """Summed over hedge status, the rows are investor_country_flows summed over investor type
    (per universe, date, domicile and country): the same funds, weights and rules."""
    settings, _u, _runs = wh
    key = ["universe", "flow_date", "investor_domicile", "country"]
    cols = ["flow_usd", "assets_start_usd", "portfolio_change_usd"]
    h = _rows(spark, settings).groupby(key)[cols].sum().sort_index()
    i = _rows(spark, settings, "investor_country_flows").groupby(key)[cols].sum().sort_index()
    assert list(h.index) == list(i.index)
    assert h.to_numpy() == pytest.approx(i.to_numpy(), abs=1e-9)


def test_commit_is_a_window_replacement_with_its_sources(spark, wh):
    """One replaceWhere per run, the silver versions read in userMetadata; the same window
    again changes nothing; a one-day window leaves the other day and universe untouched."""
    settings, universes, runs = wh
    path = settings.table_path("investor_hedge_flows")
    info = storage.commit_info(spark, path)
    meta = json.loads(info["userMetadata"])
    assert meta["job"] == "mosaic-flows" and meta["universes"] == ["ALL", "XDOM"]
    assert meta["window"] == [str(MON), str(THU)]
    assert set(meta["source_versions"]) == set(hedge.SOURCES)
    before = _rows(spark, settings).sort_values(list(_rows(spark, settings).columns[:5]))
    again = hedge.run(spark, settings, "ALL,XDOM", universes_path=universes, progress=_quiet)
    assert again.table_version == runs["hedge"].table_version + 1
    one = hedge.run(
        spark, settings, "ALL", start=THU, end=THU, universes_path=universes, progress=_quiet
    )
    assert one.rows_written == sum(1 for k in EXPECTED if k[:2] == ("ALL", THU))
    after = _rows(spark, settings).sort_values(list(before.columns[:5]))
    cols = list(before.columns)
    assert before.reset_index(drop=True)[cols].equals(after.reset_index(drop=True)[cols])


def test_mosaic_flows_command_and_the_page(spark, wh, repo, tmp_path):
    """`flowmosaic mosaic-flows` writes investor_country_flows, then investor_hedge_flows over
    the window it resolved (--start alone: to the last date); --no-hedge only the first.
    `flowmosaic mosaic` then shows the split of the foreign flows into US: DE funds (A, F)
    and the JP fund C are foreign, LU (B) offshore, US (D) domestic."""
    settings, universes, _runs = wh
    common = ["--conf", str(repo / "conf" / "local.yaml"), "--warehouse", settings.warehouse]
    names = ("investor_country_flows", "investor_hedge_flows")

    def versions():
        return {n: storage.current_version(spark, settings.table_path(n)) for n in names}

    v0 = versions()
    flows = ["mosaic-flows", "--universe", "ALL", "--universes", universes, *common]
    assert run_in_session(spark, [*flows, "--start", str(THU)]) == 0
    assert versions() == {n: v + 1 for n, v in v0.items()}
    for n in names:
        meta = json.loads(storage.commit_info(spark, settings.table_path(n))["userMetadata"])
        assert (meta["job"], meta["window"]) == ("mosaic-flows", [str(THU), str(THU)]), n
    assert run_in_session(spark, [*flows, "--no-hedge"]) == 0
    v2 = versions()
    assert v2 == {
        "investor_country_flows": v0["investor_country_flows"] + 2,
        "investor_hedge_flows": v0["investor_hedge_flows"] + 1,
    }

    country_flows_run(spark, settings, "ALL", universes_path=universes, progress=_quiet)
    page = ["mosaic", "--country", "US", "--universe", "ALL", "--out", str(tmp_path), *common]
    assert run_in_session(spark, page) == 0
    text = (tmp_path / "mosaic-US.html").read_text(encoding="utf-8")
    assert "Hedged and unhedged foreign flows" in text
    daily = pd.read_csv(tmp_path / "mosaic-US-hedge-daily.csv").set_index("date")
    # hedged: A1 5 + C2 7 on Monday, A1 6.4 + F1 6 + C2 -2 on Thursday;
    # unhedged: A2 -2 + C1 -3, then A2 1.6 + C1 1; no flag: A3 3 on Monday
    assert list(daily.cum_hedged_flow_usd) == pytest.approx([12.0, 22.4])
    assert list(daily.cum_unhedged_flow_usd) == pytest.approx([-5.0, -2.4])
    assert list(daily.cum_implied_fx_flow_usd) == pytest.approx([-5.0, -2.4])
    assert list(daily.cum_unknown_flow_usd) == pytest.approx([3.0, 3.0])
    # holdings: hedged 500 + 700 | unhedged 250 + 300; then 1108 + 707 | 398.4 + 297
    assert list(daily.hedge_ratio_pct) == pytest.approx(
        [100 * 1200 / 1750, 100 * 1815 / (1815 + 695.4)]
    )
