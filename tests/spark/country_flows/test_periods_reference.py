"""Weekly and monthly country flows against an independent implementation, on a raw universe
written here (docs/methodology.md, "12. Weekly and monthly reporters").

The raw files (funds, share classes with investor types, daily flows, weekly_flows,
monthly_flows, a long allocation file) are written by this test from a seeded generator and
ingested with the real `ingest_paths`; the real job computes weekly_country_flows and
monthly_country_flows. The reference reads the same raw files with pandas and imports nothing
from flowmosaic: week ends (Wednesdays), month ends, the 23rd rule on a period's end date,
one row per fund and period (its own row when it has one, else its days summed: flows and
portfolio change summed, assets at the start of the first day), single-country funds without
snapshots, universe filters, investor-type selection and ex-domestic are written again here.

The universe covers:
- daily reporters with allocations (D1, D2), without (D3: never counted), a single-country
  daily reporter without snapshots (D4: 1.0 in JP);
- the vendor's superset: D1 and D2 also have monthly rows. D1's equal the sums of its days;
  D2's February row does not (the vendor restated it): the monthly series must use D2's own
  rows, never its days on top or instead;
- weekly-only (W1, holding VN, a destination outside the 52), a fund that reports daily in
  January and weekly from February (W2: its January weeks come from its days, its later
  weeks from its own rows), monthly-only (M1, holding NG; M2 single-country US);
- bond funds with institutional and retail classes (B1 daily, B2 monthly) for the universe
  that keeps institutional classes of foreign investors only (ex-domestic);
- a multi-asset fund outside every universe (X1).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic.country_flows.periods import run as periods_run
from flowmosaic.ingest import ingest_paths
from tests.support import tolerance as tol
from tests.support.guards import LENIENT

UNIVERSES = ["FloPctCtry", "E-ALL", "FloPctCtry-B-xdom-inst"]
# fund: asset class, focus, cross-border, domicile, classes (investor types), reports
FUNDS = {
    "D1": ("E", "Global", True, "LU", ["Institutional", "Retail"], "daily+monthly"),
    "D2": ("E", "Global", True, "US", ["Retail"], "daily+monthly*"),
    "D3": ("E", "Global", True, "GB", ["Retail"], "daily"),
    "D4": ("E", "JP", False, "JP", ["Retail"], "daily"),
    "W1": ("E", "Global", True, "LU", ["Institutional"], "weekly"),
    "W2": ("E", "Asia Pacific", True, "JP", ["Retail", "Institutional"], "daily-jan+weekly"),
    "M1": ("E", "Global", True, "IE", ["Retail", "Institutional"], "monthly"),
    "M2": ("E", "US", False, "US", ["Retail"], "monthly"),
    "B1": ("B", "Global", True, "DE", ["Institutional", "Retail"], "daily"),
    "B2": ("B", "Global", True, "FR", ["Institutional", "Retail"], "monthly"),
    "X1": ("M", "Global", True, "LU", ["Retail"], "monthly"),
}
ALLOCATED = {
    "D1": ["US", "JP", "GB", "DE"],
    "D2": ["US", "JP", "CN"],
    "W1": ["US", "DE", "VN"],
    "W2": ["JP", "AU", "CN", "VN"],
    "M1": ["US", "JP", "BR", "NG"],
    "B1": ["US", "DE", "JP"],
    "B2": ["US", "FR", "DE", "IT"],
    "X1": ["US", "GB"],
}
SNAPSHOTS = ["2023-10-31", "2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29"]
FIRST, LAST = dt.date(2024, 1, 2), dt.date(2024, 3, 29)
FLOWS_HEADER = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"


def _flow_dates(lo: dt.date, hi: dt.date) -> list[dt.date]:
    out, d = [], lo
    while d <= hi:
        if d.weekday() < 5 and (d.month, d.day) not in ((1, 1), (12, 25)):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def week_end(d: dt.date) -> dt.date:
    return d + dt.timedelta(days=(2 - d.weekday()) % 7)  # the Wednesday on or after d


def month_end(d: dt.date) -> dt.date:
    nxt = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def alloc_month(d: dt.date) -> dt.date:
    back = 1 if d.day >= 23 else 2
    idx = d.year * 12 + d.month - 1 - back
    return dt.date(idx // 12, idx % 12 + 1, 1)


def _period_rows(days: pd.DataFrame, end_of) -> pd.DataFrame:
    """Share-class daily rows summed into periods the way a vendor's period file holds them."""
    g = days.assign(period_end=days["date"].map(end_of)).sort_values("date")
    return (
        g.groupby(["period_end", "share", "fund"], as_index=False)
        .agg(
            flow=("flow", "sum"),
            start=("start", "first"),
            end=("end", "last"),
            pc=("pc", "sum"),
        )
        .rename(columns={"period_end": "date"})
    )


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    rng = np.random.default_rng(19)
    d = tmp_path_factory.mktemp("periods_raw")
    funds = [
        f"{f},{ac},{focus},{str(xb).lower()},{dom},A,MF"
        for f, (ac, focus, xb, dom, _, _) in FUNDS.items()
    ]
    (d / "funds.csv").write_text(
        "FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle\n"
        + "\n".join(funds)
        + "\n"
    )
    classes = [(f"{f}-{i}", f, t) for f, v in FUNDS.items() for i, t in enumerate(v[4])]
    (d / "share_classes.csv").write_text(
        "ShareId,FundId,InvestorType\n" + "\n".join(",".join(c) for c in classes) + "\n"
    )
    days = _flow_dates(FIRST, LAST)
    weekly_days = _flow_dates(dt.date(2023, 12, 28), dt.date(2024, 3, 27))
    monthly_days = _flow_dates(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    daily, weekly, monthly = [], [], []
    for share, fund, _ in classes:
        mode = FUNDS[fund][5]
        cal = {"weekly": weekly_days, "monthly": monthly_days}.get(mode, days)
        if mode.startswith("daily-jan"):
            cal = weekly_days
        assets = float(rng.uniform(50, 500))
        rows = []
        for day in cal:
            flow = float(np.round(rng.normal(0, 2), 3))
            pc = float(np.round(rng.normal(0, 1.5), 3))
            rows.append((day, share, fund, flow, assets, assets + flow + pc, pc))
            assets = assets + flow + pc
        frame = pd.DataFrame(rows, columns=["date", "share", "fund", "flow", "start", "end", "pc"])
        if mode.startswith("daily"):
            jan_only = mode.startswith("daily-jan")
            dly = frame[frame["date"] <= dt.date(2024, 1, 31)] if jan_only else frame
            daily.append(dly[dly["date"] >= FIRST])
            if jan_only:
                w = _period_rows(frame, week_end)
                weekly.append(w[w["date"] > dt.date(2024, 1, 31)])
            if mode.startswith("daily+monthly"):
                m = _period_rows(frame, month_end)
                if mode.endswith("*"):  # the vendor's restated February differs from the days
                    feb = m["date"] == dt.date(2024, 2, 29)
                    m.loc[feb, "flow"] += 7.5
                    m.loc[feb, "end"] += 7.5
                monthly.append(m)
        elif mode == "weekly":
            weekly.append(_period_rows(frame, week_end))
        else:
            monthly.append(_period_rows(frame, month_end))

    def write(name, parts):
        df = pd.concat(parts, ignore_index=True)
        df = df.assign(fx=0.0)[["date", "share", "fund", "flow", "start", "end", "pc", "fx"]]
        df.to_csv(d / name, index=False, header=FLOWS_HEADER.split(","))
        return df

    flows = {
        "daily": write("flows.csv", daily),
        "weekly": write("weekly_flows.csv", weekly),
        "monthly": write("monthly_flows.csv", monthly),
    }
    alloc = []
    for fund, countries in ALLOCATED.items():
        for snap in SNAPSHOTS:
            w = rng.dirichlet(np.ones(len(countries))) * 96.0  # 4 % cash, not stored
            alloc += [(snap, fund, c, round(float(x), 4)) for c, x in zip(countries, w)]
    pd.DataFrame(alloc, columns=["ReportDate", "FundId", "Country", "Allocation"]).to_csv(
        d / "allocations.csv", index=False
    )
    return d, flows, pd.DataFrame(alloc, columns=["snap", "fund", "country", "pct"]), classes


def reference(raw, frequency: str, universe: str) -> pd.DataFrame:
    _, flows, alloc, classes = raw
    end_of = week_end if frequency == "weekly" else month_end
    types = {s: t for s, _, t in classes}
    ac = {"FloPctCtry": "E", "E-ALL": "E", "FloPctCtry-B-xdom-inst": "B"}[universe]
    members = {f: v for f, v in FUNDS.items() if v[0] == ac and (universe == "E-ALL" or v[2])}
    wanted = {"Institutional"} if universe == "FloPctCtry-B-xdom-inst" else None

    def selected(df):
        df = df[df["fund"].isin(members)]
        return df[df["share"].map(types).isin(wanted)] if wanted else df

    own_all = flows[frequency]
    own_keys = set(zip(own_all["fund"], own_all["date"]))
    own = (
        selected(own_all)
        .groupby(["fund", "date"], as_index=False)
        .agg(flow=("flow", "sum"), start=("start", "sum"), pc=("pc", "sum"))
        .assign(from_days=False)
    )
    fd = (
        selected(flows["daily"])
        .groupby(["fund", "date"], as_index=False)[["flow", "start", "pc"]]
        .sum()
    )
    fd["period"] = fd["date"].map(end_of)
    fd = fd.sort_values("date")
    from_days = (
        fd.groupby(["fund", "period"], as_index=False)
        .agg(flow=("flow", "sum"), start=("start", "first"), pc=("pc", "sum"))
        .rename(columns={"period": "date"})
        .assign(from_days=True)
    )
    from_days = from_days[
        [(f, p) not in own_keys for f, p in zip(from_days["fund"], from_days["date"])]
    ]
    periods = pd.concat([own, from_days], ignore_index=True)
    # the periods the data covers completely (their last flow date is in the data)
    last_data = max(flows["daily"]["date"].max(), own_all["date"].max())
    periods = periods[
        [max(_flow_dates(p - dt.timedelta(days=6), p)) <= last_data for p in periods["date"]]
    ]
    snaps = alloc.assign(month=[dt.date.fromisoformat(s).replace(day=1) for s in alloc["snap"]])
    ever = set(snaps["fund"])
    out = []
    for _, r in periods.iterrows():
        fund = members[r["fund"]]
        m = alloc_month(r["date"])
        w = snaps[(snaps["fund"] == r["fund"]) & (snaps["month"] == m) & (snaps["pct"] > 0)]
        weights = dict(zip(w["country"], w["pct"] / 100.0))
        if not fund[2] and r["fund"] not in ever:
            weights = {fund[1]: 1.0}
        for c, wt in weights.items():
            if universe == "FloPctCtry-B-xdom-inst" and c == fund[3]:
                continue
            out.append((r["date"], c, r["flow"] * wt, r["start"] * wt, r["from_days"]))
    ref = pd.DataFrame(out, columns=["period_end", "country", "flow", "start", "from_days"])
    ref["abs_flow"] = ref["flow"].abs()
    return ref.groupby(["period_end", "country"], as_index=False).agg(
        flow_usd=("flow", "sum"),
        assets_start_usd=("start", "sum"),
        abs_flow=("abs_flow", "sum"),
        fund_count=("flow", "size"),
        funds_from_days=("from_days", "sum"),
    )


@pytest.fixture(scope="module")
def warehouse_with_periods(spark, raw, make_settings, tmp_path_factory):
    d = raw[0]
    settings = make_settings(tmp_path_factory.mktemp("periods_wh"))
    rep = ingest_paths(spark, settings, directory=str(d), guard_limits=LENIENT)
    assert rep.quarantined == 0 and not rep.warnings, rep.describe()
    for freq in ("weekly", "monthly"):
        periods_run(spark, settings, UNIVERSES, freq, progress=lambda _m: None)
    return settings


@pytest.mark.parametrize("frequency", ["weekly", "monthly"])
def test_period_country_flows_match_the_reference(spark, raw, warehouse_with_periods, frequency):
    got = (
        spark.read.format("delta")
        .load(warehouse_with_periods.table_path(f"{frequency}_country_flows"))
        .toPandas()
    )
    for universe in UNIVERSES:
        ref = reference(raw, frequency, universe)
        mine = got[got["universe"] == universe]
        keys_ref = set(zip(ref["period_end"], ref["country"]))
        keys_got = set(zip(mine["period_end"], mine["country"]))
        assert keys_got == keys_ref, (universe, sorted(keys_got ^ keys_ref)[:10])
        both = ref.merge(mine, on=["period_end", "country"], suffixes=("_ref", ""))
        assert len(both) == len(ref)
        for col in ("flow_usd", "assets_start_usd"):
            bound = tol.sum_tolerance(both["abs_flow"] if col == "flow_usd" else both[col + "_ref"])
            assert (np.abs(both[col] - both[col + "_ref"]) <= bound + 1e-12).all(), (universe, col)
        pct = 100 * both["flow_usd_ref"] / both["assets_start_usd_ref"]
        bound = tol.pct_tolerance(both["abs_flow"], both["assets_start_usd_ref"])
        assert (np.abs(both["flow_pct"] - pct) <= bound + 1e-12).all()
        assert (both["fund_count"] == both["fund_count_ref"]).all()
        assert (both["funds_from_days"] == both["funds_from_days_ref"]).all()
    # the cases the universe was built for are in the output
    e = got[got["universe"] == "FloPctCtry"]
    assert "VN" in set(e["country"]) and ("NG" in set(e["country"])) == (frequency == "monthly")
    if frequency == "monthly":
        # D2's restated February: its own row, not its days (7.5 more flow, D2 only holds
        # US, JP, CN): the country sums differ from what the days would give
        feb = e[e["period_end"] == dt.date(2024, 2, 29)]
        assert int(feb["funds_from_days"].sum()) == 0  # D1, D2 have own monthly rows
    else:
        jan = e[(e["period_end"] == dt.date(2024, 1, 10)) & (e["country"] == "JP")]
        assert jan["funds_from_days"].tolist() == [3]  # D1, D2 and W2's January days


def test_api_reads_period_flows_and_group_ratios_without_spark(raw, warehouse_with_periods):
    """The notebook API reads the weekly table (delta-rs, no JVM) and a group's flow % is the
    ratio of the reference's sums over its members."""
    import flowmosaic as fm

    wh = fm.Warehouse(warehouse_with_periods)
    weekly = wh.country_flows("FloPctCtry", frequency="weekly")
    assert set(weekly.columns) >= {"period_end", "country", "flow_pct", "funds_from_days"}
    groups = wh.group_flows("FloPctCtry", groups="EM,frontier", frequency="weekly")
    assert not wh.spark_started
    ref = reference(raw, "weekly", "FloPctCtry")
    em = ("CN", "BR", "IN")  # the EM destinations this universe holds (CN, BR)
    frontier = ("VN", "NG")
    for name, members in (("EM", em), ("frontier", frontier)):
        r = ref[ref["country"].isin(members)].groupby("period_end")[
            ["flow_usd", "assets_start_usd"]
        ]
        want = (100 * r.sum()["flow_usd"] / r.sum()["assets_start_usd"]).sort_index()
        got = groups[groups["group"] == name].set_index("period_end")["flow_pct"].sort_index()
        assert list(got.index) == list(want.index)
        assert np.allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12)


def test_a_window_rerun_replaces_exactly_its_periods(spark, warehouse_with_periods):
    """Idempotent like the daily job: recomputing February's weeks of one universe leaves every
    row as it was (the other universes' and the other weeks' rows untouched)."""
    s = warehouse_with_periods
    path = s.table_path("weekly_country_flows")

    def rows():
        df = spark.read.format("delta").load(path).toPandas()
        return df.sort_values(["universe", "period_end", "country"]).reset_index(drop=True)

    before = rows()
    run = periods_run(
        spark, s, "FloPctCtry", "weekly", dt.date(2024, 2, 1), dt.date(2024, 2, 29), progress=print
    )
    assert (run.start, run.end) == (dt.date(2024, 2, 7), dt.date(2024, 2, 28))
    feb = before[(before.universe == "FloPctCtry") & before.period_end.between(run.start, run.end)]
    assert run.rows_written == len(feb) > 0
    pd.testing.assert_frame_equal(rows(), before)


def test_the_weekly_series_backtests_from_the_cli(spark, warehouse_with_periods, tmp_path, capsys):
    """`flowmosaic backtest --flows weekly_country_flows:U` reads the weekly table (dated at
    period_end), takes the weekly frequency from the table's name and runs to its report."""
    from flowmosaic.cli import main as cli_main

    s = warehouse_with_periods
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2023-12-01", "2024-06-28")
    countries = ["US", "JP", "GB", "DE", "CN", "VN", "AU", "BR"]
    levels = 100 * np.cumprod(1 + rng.normal(0, 0.01, (len(days), len(countries))), axis=0)
    market = pd.DataFrame(levels, columns=countries)
    market.insert(0, "date", days.strftime("%Y%m%d"))
    market.to_csv(tmp_path / "levels.csv", index=False)
    argv = [
        "backtest",
        "--flows",
        "weekly_country_flows:FloPctCtry",
        "--returns",
        str(tmp_path / "levels.csv"),
        "--lookback",
        "1",
        "--bins",
        "2",
        "--horizons",
        "5,10",
        "--out",
        str(tmp_path / "bt"),
        "--warehouse",
        str(s.warehouse),
    ]
    assert cli_main(argv) == 0
    said = capsys.readouterr().out
    assert "weekly_country_flows" in said and (tmp_path / "bt" / "report.html").exists()
    bins = pd.read_csv(tmp_path / "bt" / "bins.csv", dtype={"date": str})
    # one trade date per week, on Fridays (week ending Wednesday + 2 flow dates)
    fridays = pd.to_datetime(bins["date"], format="%Y%m%d")
    assert (fridays.dt.weekday == 4).all() and fridays.diff().dropna().dt.days.eq(7).all()
    runs = spark.read.format("delta").load(s.table_path("backtest_runs")).toPandas()
    assert runs["parameters"].str.contains('"frequency": "weekly"').all()
