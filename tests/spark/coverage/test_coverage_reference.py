"""gold coverage against an independent implementation, on a raw universe written here
(docs/coverage.md); then the command and the API on the same warehouse.

The raw vendor files (funds, share classes, daily flows, weekly_flows.csv, monthly_flows.csv,
a wide allocation file) are written below from a seeded generator, ingested with the real
`ingest_paths`, and the real coverage job computes two universes. The reference reads the
same raw files with pandas and imports nothing from flowmosaic: a fund's month-end assets (its
latest report date in the month, monthly before weekly before daily on that date, AssetsEnd or
the identity where it is blank), the investor types, the 23rd rule, single-country funds and
ex-domestic are written again here from docs/coverage.md. Every row must agree: the counts
exactly, the assets to 1e-9.

Daily flows run from Wed 2023-11-01 to Fri 2024-02-16 (2023 ends with December, 2024 with
February: a year's row is its last month with data). The bond funds (universe T-B, and
T-B-inst-xdom: institutional classes, ex-domestic) cover:
- F01 daily with allocations every month; its retail class stops on 27 December, so its
  month-end assets of December are the institutional class's on the 29th alone;
- F02 daily, never an allocation; a blank AssetsEnd (and PortfolioChange) at month ends;
  stops after January;
- F03 single-country (focus ' jp', domiciled JP) without snapshots: allocated in T-B, not in
  the ex-domestic universe;
- F04 single-country with one snapshot (October): no longer single-country, the snapshot
  serves 23 November to 22 December only;
- F05 weekly-only, F06 monthly-only (from December, retail only);
- F07 daily and monthly rows: the month-end assets are the monthly rows' (30 November is a
  Thursday: daily and monthly on the same date, the monthly one wins);
- F09 daily and weekly rows, snapshots of September and November only: 31 January is a
  Wednesday, so January's assets are its weekly row's; allocated until 22 January, not in
  February;
- F10 retail only (not in the institutional universe); F11 allocates to its own domicile only
  (allocated in T-B, not ex-domestic); F12 reports 1-20 November only, and its one snapshot
  (October) serves from the 23rd: a daily reporter without allocations; F13 focus 'Europe'
  (no country), no snapshots;
- F08 an equity fund: in all funds, in neither universe.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

import flowmosaic as fm
from flowmosaic import storage
from flowmosaic.cli import main as cli_main
from flowmosaic.coverage import run as coverage_run
from flowmosaic.errors import InputError
from flowmosaic.ingest import ingest_paths
from tests.support.guards import LENIENT

# --- the raw universe ---------------------------------------------------------------------------

FUNDS_CSV = """FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle
F01,B,Global,true,LU,A,MF
F02,B,Global,true,US,A,MF
F03,B, jp,false,JP,A,MF
F04,B,DE,false,LU,A,MF
F05,B,Global,true,LU,A,MF
F06,B,Global,true,IE,A,MF
F07,B,Global,true,LU,P,ETF
F08,E,Global,true,US,A,MF
F09,B,Global,true,GB,A,MF
F10,B,Global,true,LU,A,MF
F11,B,Global,true,US,A,MF
F12,B,Global,true,FR,A,MF
F13,B,Europe,false,FR,A,MF
"""
SHARE_CLASSES_CSV = """ShareId,FundId,InvestorType
S01i,F01,Institutional
S01r,F01,Retail
S02i,F02,Institutional
S03i,F03,Institutional
S04i,F04,Institutional
S05i,F05,Institutional
S06r,F06,Retail
S07i,F07,Institutional
S07o,F07,
S08r,F08,Retail
S09i,F09,Institutional
S10r,F10,Retail
S11i,F11,Institutional
S12i,F12,Institutional
S13i,F13,Institutional
"""
# percent; blank is no allocation. A snapshot of month M serves 23 M+1 .. 22 M+2.
ALLOCATIONS_CSV = """ReportDate,FundId,JP,US,DE,GB,FR
2023-09-29,F01,30,50,10,,
2023-10-31,F01,25,55,12.5,,
2023-11-30,F01,20,60,10,,
2023-12-29,F01,15,65,15,,
2023-10-31,F04,,,100,,
2023-10-31,F05,10,80,,,
2023-11-30,F05,10,80,,,
2023-09-29,F07,,40,50,,
2023-10-31,F07,,45,45,,
2023-11-30,F07,,35,55,,
2023-12-29,F07,,30,60,,
2023-09-29,F08,40,50,,,
2023-10-31,F08,40,50,,,
2023-11-30,F08,40,50,,,
2023-12-29,F08,40,50,,,
2023-09-29,F09,,40,,50,
2023-11-30,F09,,35,,55,
2023-09-29,F10,20,70,,,
2023-10-31,F10,20,70,,,
2023-11-30,F10,20,70,,,
2023-12-29,F10,20,70,,,
2023-09-29,F11,,100,,,
2023-10-31,F11,,100,,,
2023-11-30,F11,,100,,,
2023-12-29,F11,,100,,,
2023-10-31,F12,,,,,90
"""
UNIVERSES_YAML = """universes:
  T-B:
    asset_class: [B]
  T-B-inst-xdom:
    asset_class: [B]
    investor_type: [Institutional]
    ex_domestic: true
"""
UNIVERSES = ["T-B", "T-B-inst-xdom"]
FIRST, LAST = dt.date(2023, 11, 1), dt.date(2024, 2, 16)
HEADER = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"
MONTH_ENDS = [dt.date(2023, 11, 30), dt.date(2023, 12, 31), dt.date(2024, 1, 31)]


def _daily(share: str, d: dt.date) -> bool:
    """Which share classes deliver a daily row on flow date d."""
    if share in ("S05i", "S06r"):
        return False  # weekly-only, monthly-only
    if share == "S01r":
        return d <= dt.date(2023, 12, 27)
    if share == "S02i":
        return d <= dt.date(2024, 1, 31)
    if share == "S12i":
        return d <= dt.date(2023, 11, 20)
    return True


def _weekly(share: str) -> bool:
    return share in ("S05i", "S09i")


def _monthly(share: str, d: dt.date) -> bool:
    return share in ("S07i", "S07o") or (share == "S06r" and d >= dt.date(2023, 12, 31))


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def write_raw(root: Path) -> None:
    """The raw files under root, as `ingest --input DIR` expects them."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "funds.csv").write_text(FUNDS_CSV)
    (root / "share_classes.csv").write_text(SHARE_CLASSES_CSV)
    (root / "allocations.csv").write_text(ALLOCATIONS_CSV)
    lines = [ln.split(",") for ln in SHARE_CLASSES_CSV.splitlines()[1:]]
    rng = np.random.default_rng(20231101)
    days = [FIRST + dt.timedelta(n) for n in range((LAST - FIRST).days + 1)]
    flow_dates = [d for d in days if d.weekday() < 5 and (d.month, d.day) not in ((12, 25), (1, 1))]
    wednesdays = [d for d in days if d.weekday() == 2]
    month_ends = [*MONTH_ENDS, dt.date(2024, 2, 29)]
    files: dict[str, list[str]] = {"flows.csv": [], "weekly_flows.csv": [], "monthly_flows.csv": []}
    for share, fund, _ in lines:
        rows = (
            [("flows.csv", d) for d in flow_dates if _daily(share, d)]
            + [("weekly_flows.csv", d) for d in wednesdays if _weekly(share)]
            + [("monthly_flows.csv", d) for d in month_ends if _monthly(share, d)]
        )
        for name, d in rows:
            start = int(rng.integers(100_000_000, 9_000_000_000))  # US$1m .. 90m, in cents
            flow = int(round(start * rng.normal(0, 0.01)))
            pc = int(round(start * rng.normal(0, 0.006)))
            fx = int(round(start * rng.normal(0, 0.001)))
            end, pc_text = _money(start + flow + pc + fx), _money(pc)
            if share == "S02i" and d in MONTH_ENDS:
                end = ""  # blank AssetsEnd: the identity gives it
                pc_text = "" if d.month == 1 else pc_text  # and a blank change counts 0
            files[name].append(
                f"{d:%Y-%m-%d},{share},{fund},{_money(flow)},{_money(start)},{end},"
                f"{pc_text},{_money(fx)}"
            )
    for name, rows in files.items():
        (root / name).write_text("\n".join([HEADER, *rows]) + "\n")


# --- the reference: pandas over the raw files, the rules written again --------------------------

# the two-letter country codes this universe's GeographicFocus and Domicile use ('GLOBAL' and
# 'EUROPE' are none)
COUNTRIES = {"JP", "US", "DE", "GB", "FR", "LU", "IE"}
# the universes of UNIVERSES_YAML, by hand
SPECS = {
    "T-B": dict(types=None, xdom=False),
    "T-B-inst-xdom": dict(types={"Institutional"}, xdom=True),
}
MONTHLY, WEEKLY, DAILY = 1, 2, 3
COUNTS = ["all_funds", "universe_funds", "daily_funds", "daily_alloc_funds"]
ASSETS = ["all_assets_usd", "universe_assets_usd", "daily_assets_usd", "daily_alloc_assets_usd"]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.replace("", np.nan))


def read_raw(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(funds, share-class rows of the three files, allocations)."""
    f = _read(root / "funds.csv")
    funds = pd.DataFrame(
        {
            "fund": f.FundId.str.strip(),
            "asset_class": f.AssetClass.str.strip(),
            "focus": f.GeographicFocus.str.strip().str.upper(),
            "cross_border": f.CrossBorder.str.strip().str.lower() == "true",
            "domicile": f.Domicile.str.strip().str.upper(),
        }
    )
    sc = _read(root / "share_classes.csv")
    itype = sc.InvestorType.str.strip()
    classes = pd.DataFrame(
        {
            "share": sc.ShareId.str.strip(),
            "investor_type": itype.where(itype.isin(["Institutional", "Retail"]), "Other"),
        }
    )
    parts = []
    for name, src in (("flows.csv", DAILY), ("weekly_flows.csv", WEEKLY)):
        parts.append((_read(root / name), src))
    parts.append((_read(root / "monthly_flows.csv"), MONTHLY))
    rows = []
    for raw, src in parts:
        identity = (
            _number(raw.AssetsStart)
            + _number(raw.Flow)
            + _number(raw.PortfolioChange).fillna(0.0)
            + _number(raw.ForexChange).fillna(0.0)
        )
        rows.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(raw.ReportDate),
                    "share": raw.ShareId,
                    "fund": raw.FundId,
                    "src": src,
                    "assets": _number(raw.AssetsEnd).fillna(identity),
                }
            )
        )
    flows = pd.concat(rows, ignore_index=True).merge(classes, on="share", validate="m:1")
    flows["month"] = flows.date.dt.to_period("M")
    wide = _read(root / "allocations.csv")
    alloc = wide.melt(id_vars=["ReportDate", "FundId"], var_name="country", value_name="pct")
    alloc = alloc[alloc.pct.str.strip() != ""]
    alloc = pd.DataFrame(
        {
            "fund": alloc.FundId,
            "snapshot": pd.to_datetime(alloc.ReportDate).dt.to_period("M"),
            "country": alloc.country,
        }
    )
    return funds, flows, alloc


def fund_months(flows: pd.DataFrame) -> pd.DataFrame:
    """Per fund and month: the latest report date, the source taken on it (monthly before
    weekly before daily), the assets summed over the fund's share classes there, and whether
    the fund has daily rows in the month."""
    per = flows.groupby(["fund", "month", "date", "src"], as_index=False).assets.sum()
    per = per[per.date == per.groupby(["fund", "month"]).date.transform("max")]
    per = per[per.src == per.groupby(["fund", "month"]).src.transform("min")]
    daily = flows[flows.src == DAILY][["fund", "month"]].drop_duplicates().assign(daily=True)
    out = per.merge(daily, on=["fund", "month"], how="left")
    return out.assign(daily=out.daily.eq(True)).reset_index(drop=True)


def _snapshot(d: pd.Series) -> pd.Series:
    """The 23rd rule: the previous month's snapshot from the 23rd on, two months back before."""
    return d.dt.to_period("M") - np.where(d.dt.day >= 23, 1, 2)


def allocated(flows, funds, alloc, xdom: bool) -> set[tuple[str, pd.Period]]:
    """(fund, month) whose daily flows reach a country: a snapshot serving one of the days,
    or single-country without snapshots (ex-domestic: a country other than the domicile)."""
    days = flows[flows.src == DAILY][["fund", "month", "date"]].drop_duplicates()
    days = days.assign(snapshot=_snapshot(days.date))
    snaps = alloc.merge(funds[["fund", "domicile"]], on="fund")
    if xdom:
        snaps = snaps[snaps.country != snaps.domicile]
    served = days.merge(snaps[["fund", "snapshot"]].drop_duplicates(), on=["fund", "snapshot"])
    single = funds[~funds.cross_border & funds.focus.isin(COUNTRIES) & ~funds.fund.isin(alloc.fund)]
    if xdom:
        single = single[single.focus != single.domicile]
    one = days[days.fund.isin(single.fund)]
    return set(zip(served.fund, served.month)) | set(zip(one.fund, one.month))


def classified(root: Path) -> dict[str, pd.DataFrame]:
    """Per universe, its fund-months with their assets and groups; and 'all': every fund's."""
    funds, flows, alloc = read_raw(root)
    out = {"all": fund_months(flows)}
    for name, spec in SPECS.items():
        rows = flows if spec["types"] is None else flows[flows.investor_type.isin(spec["types"])]
        fmo = fund_months(rows)
        fmo = fmo[fmo.fund.isin(funds[funds.asset_class == "B"].fund)]
        reach = allocated(rows, funds, alloc, spec["xdom"])
        alloc_flag = [(f, m) in reach for f, m in zip(fmo.fund, fmo.month)]
        out[name] = fmo.assign(allocated=fmo.daily & np.array(alloc_flag, dtype=bool))
    return out


def reference(groups: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The table's rows: per universe a row per month, and per year its last month's."""
    a = (
        groups["all"]
        .groupby("month")
        .agg(all_funds=("fund", "size"), all_assets_usd=("assets", "sum"))
    )
    out = []
    for name in SPECS:
        g = groups[name]
        sums = {}
        for prefix, keep in (
            ("universe", g.fund.notna()),
            ("daily", g.daily),
            ("daily_alloc", g.allocated),
        ):
            s = g[keep].groupby("month")
            sums[f"{prefix}_funds"] = s.size()
            sums[f"{prefix}_assets_usd"] = s.assets.sum()
        m = a.join(pd.DataFrame(sums)).fillna(0.0).reset_index()
        m[COUNTS] = m[COUNTS].astype("int64")
        m["as_of"] = m.month.dt.end_time.dt.date
        months = m.assign(period="month", period_start=m.month.dt.start_time.dt.date)
        years = m.groupby(m.month.dt.year).tail(1)
        years = years.assign(
            period="year", period_start=[dt.date(p.year, 1, 1) for p in years.month]
        )
        out.append(pd.concat([years, months]).assign(universe=name))
    return pd.concat(out, ignore_index=True).drop(columns="month")


# --- fixtures ---------------------------------------------------------------------------------

KEY = ["universe", "period", "period_start"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("coverage-raw")
    write_raw(base / "raw")
    (base / "universes.yaml").write_text(UNIVERSES_YAML)
    return base / "raw", base / "universes.yaml"


@pytest.fixture(scope="module")
def groups(raw) -> dict[str, pd.DataFrame]:
    return classified(raw[0])


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def warehouse(spark, make_settings, tmp_path_factory, raw):
    """One warehouse for the module: the raw files ingested, then the coverage of both
    universes computed (the first run of the job)."""
    settings = make_settings(tmp_path_factory.mktemp("coverage-wh") / "wh")
    report = ingest_paths(spark, settings, directory=str(raw[0]), guard_limits=LENIENT)
    assert report.reconciled and not report.warnings, report.describe()
    assert all(not r.quarantined for r in report.sources.values()), report.describe()
    run = coverage_run(spark, settings, UNIVERSES, universes_path=str(raw[1]), progress=_quiet)
    return settings, run


def _gold(path: str, version: int | None = None) -> pd.DataFrame:
    return DeltaTable(path, version=version).to_pandas()


def compare(got: pd.DataFrame, want: pd.DataFrame) -> pd.DataFrame:
    m = want.merge(got, on=KEY, how="outer", suffixes=("_ref", ""), indicator=True)
    assert (m._merge == "both").all(), m.loc[m._merge != "both", KEY + ["_merge"]]
    for c in COUNTS + ["as_of"]:
        bad = m[m[c] != m[f"{c}_ref"]]
        assert bad.empty, bad[KEY + [c, f"{c}_ref"]]
    for c in ASSETS:
        bad = m[(m[c] - m[f"{c}_ref"]).abs() > 1e-9 * m[f"{c}_ref"].abs() + 1e-6]
        assert bad.empty, bad[KEY + [c, f"{c}_ref"]]
    return m


# --- tests ------------------------------------------------------------------------------------


def test_coverage_matches_the_independent_reference(spark, warehouse, groups):
    """The job's table holds exactly the reference's rows of both universes: counts and as_of
    equal, assets to 1e-9; a year's row is its last month's (December 2023, February 2024)."""
    settings, run = warehouse
    got = _gold(run.path, run.table_version)
    m = compare(got, reference(groups))
    assert len(m) == 2 * (2 + 4) and set(m.universe) == set(UNIVERSES)
    years = got[got.period == "year"].sort_values(KEY)
    assert list(years.as_of.astype(str)) == ["2023-12-31", "2024-02-29"] * 2
    # the run returns what it wrote, and records the silver versions it read
    assert len(run.rows) == len(got)
    compare(run.rows, reference(groups))
    meta = json.loads(storage.commit_info(spark, run.path, run.table_version)["userMetadata"])
    assert meta["job"] == "coverage" and meta["universes"] == UNIVERSES
    assert set(meta["source_versions"]) == {
        "funds",
        "share_classes",
        "share_class_flows",
        "share_class_flows_weekly",
        "share_class_flows_monthly",
        "fund_allocations",
    }


def test_the_raw_universe_covers_the_cases(groups):
    """The reference's fund-months hold every case the module docstring lists, so the
    comparison is not vacuous."""
    nov, dec, jan, feb = (pd.Period(m, "M") for m in ("2023-11", "2023-12", "2024-01", "2024-02"))

    def funds(name, month, column=None):
        g = groups[name]
        g = g[g.month == month]
        return set(g.fund if column is None else g[g[column]].fund)

    assert funds("all", nov) == {f"F{i:02d}" for i in range(1, 14)} - {"F06"}
    assert funds("T-B", nov) == funds("all", nov) - {"F08"}
    assert funds("T-B", nov, "daily") == funds("T-B", nov) - {"F05"}
    assert funds("T-B", nov, "allocated") == {"F01", "F03", "F04", "F07", "F09", "F10", "F11"}
    assert funds("T-B", dec, "allocated") == {"F01", "F03", "F04", "F07", "F09", "F10", "F11"}
    assert funds("T-B", feb, "daily") == {"F01", "F03", "F04", "F07", "F09", "F10", "F11", "F13"}
    assert funds("T-B", feb, "allocated") == {"F01", "F03", "F07", "F10", "F11"}
    x = "T-B-inst-xdom"
    assert funds(x, nov) == funds("T-B", nov) - {"F10"}
    assert funds(x, nov, "allocated") == {"F01", "F04", "F07", "F09"}
    assert funds(x, jan) == funds("T-B", jan) - {"F06", "F10"}

    def chosen(name, fund, month):
        g = groups[name]
        r = g[(g.fund == fund) & (g.month == month)].iloc[0]
        return r.date.date(), r.src

    assert chosen("all", "F07", nov) == (dt.date(2023, 11, 30), MONTHLY)  # a tie with daily
    assert chosen("all", "F09", jan) == (dt.date(2024, 1, 31), WEEKLY)  # a tie with daily
    assert chosen("all", "F09", dec) == (dt.date(2023, 12, 29), DAILY)  # after the Wednesday
    assert chosen("all", "F05", feb) == (dt.date(2024, 2, 14), WEEKLY)
    assert chosen("all", "F06", feb) == (dt.date(2024, 2, 29), MONTHLY)
    # the investor types change the assets: F07's institutional class alone, F01's December
    # assets are its institutional class's on the 29th with or without the filter
    a, i = groups["all"], groups[x]
    f07 = (a.fund == "F07") & (a.month == nov), (i.fund == "F07") & (i.month == nov)
    assert a[f07[0]].assets.iloc[0] > i[f07[1]].assets.iloc[0]
    f01 = (a.fund == "F01") & (a.month == dec), (i.fund == "F01") & (i.month == dec)
    assert a[f01[0]].assets.iloc[0] == i[f01[1]].assets.iloc[0]


def test_a_rerun_replaces_its_universe_only(spark, warehouse, raw, groups, tmp_path):
    """Rerunning one universe (through the API this time) replaces its rows with the same
    ones and leaves the other universe's alone; the notebook read (delta-rs) returns them."""
    settings, first = warehouse
    before = _gold(first.path)
    wh = fm.open(settings.warehouse)
    again = wh.compute_coverage("T-B", universes_path=str(raw[1]), out=tmp_path)
    assert again.table_version == first.table_version + 1
    after = _gold(again.path)
    pd.testing.assert_frame_equal(
        before.sort_values(KEY).reset_index(drop=True),
        after.sort_values(KEY).reset_index(drop=True),
    )
    assert (tmp_path / "coverage-T-B.html").exists() and (tmp_path / "coverage-T-B.csv").exists()
    read = wh.coverage("T-B")
    assert list(read.period[:2]) == ["year", "year"] and len(read) == 6
    compare(read, reference(groups)[lambda r: r.universe == "T-B"])
    assert len(wh.coverage("T-B-inst-xdom", period="year")) == 2
    with pytest.raises(InputError, match="universes present: T-B, T-B-inst-xdom"):
        wh.coverage("FloPctCtry")


def test_the_command_writes_the_csv_and_the_page(warehouse, raw, groups, tmp_path, capsys):
    """`flowmosaic coverage` prints where it wrote; the CSV holds the table's rows with the
    shares of all funds' assets, the page the chart and the yearly table."""
    settings, _ = warehouse
    out = tmp_path / "out"
    argv = ["coverage", "--universe", "T-B-inst-xdom", "--universes", str(raw[1])]
    assert cli_main([*argv, "--out", str(out), "--warehouse", settings.warehouse]) == 0
    said = capsys.readouterr().out
    page, csv = out / "coverage-T-B-inst-xdom.html", out / "coverage-T-B-inst-xdom.csv"
    assert f"{page}" in said and f"{csv}" in said, said
    rows = pd.read_csv(csv, parse_dates=["period_start", "as_of"])
    rows["period_start"] = rows.period_start.dt.date
    rows["as_of"] = rows.as_of.dt.date
    compare(rows, reference(groups)[lambda r: r.universe == "T-B-inst-xdom"])
    share = 100 * rows.daily_alloc_assets_usd / rows.all_assets_usd
    assert np.allclose(rows.daily_alloc_assets_pct, share) and list(rows.period[:2]) == ["year"] * 2
    text = page.read_text()
    assert text.count("<img") == 2 and "data:image/png;base64," in text
    assert ">daily reporters with allocations</th>" in text and "<td>2024</td>" in text
