"""investor_country_flows and country_signals against independent implementations, on a
hand-built raw universe (docs/methodology.md sections 2-7, docs/signals.md).

The raw vendor files are written below by hand (funds.csv, share_classes.csv, two flows part
files, a wide allocations.csv), ingested with the real `ingest_paths`, and aggregated by the
real country-flows job at the investor grain, with both engines. The reference reads the same
raw files with pandas and imports nothing from flowmosaic: the flow calendar, the 23rd rule,
what ingest stores (trimmed text, upper-cased codes, exact investor types, positive
allocations to the 52 countries only), single-country funds, the universe filters and
ex-domestic are written again here from the methodology. Every row must agree in both
directions, the sums within tests/support/tolerance.py's rule, fund_count exactly. The
signals job runs on the same warehouse; its reference (signals_reference) writes every
signal again from docs/signals.md in pandas: the both-snapshots rule, peers that hold the
country only, guarded denominators, the 23rd-rule months and monthly signals dated the 23rd.

The universe, two months of flow dates (December 2023, January 2024), covers:
- the 23rd rule on both sides of each switch: Fri 22 Dec uses October's snapshot, Tue 26 Dec
  November's (Sat 23 is no flow date, Mon 25 is Christmas: the switch waits for the first
  flow date after the 23rd), Mon 22 Jan November's, Tue 23 Jan December's; September and
  January snapshots exist and must serve nothing;
- funds missing a snapshot for an applicable month (F02 November, F03 October: not counted
  on those dates; no carry-forward);
- single-country funds without snapshots (F06 JP in JP, F07 US in JP with a lower-case focus,
  F08 LU in DE, F11 BR whose only allocation line is blank, so nothing is stored), one with a
  snapshot (F09: the 23rd rule applies, it counts only on November's dates), and funds that
  never count (F10 CrossBorder blank, F13 focus not a country);
- funds without share classes of some investor type (F02, F07 retail only; F03, F08
  institutional only; F04 has all three), share classes of type Other (blank and lower-case
  `retail`), share classes that report on some days only, a fund without a domicile
  (investor domicile '');
- rows ingest quarantines (Christmas, New Year, a Saturday; an unknown allocation country),
  a zero allocation, a blank PortfolioChange, an identity break (flagged, counted);
- a bond fund outside the equity universes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.ingest import ingest_paths
from flowmosaic.signals.job import run as signals_run
from tests.support import tolerance as tol
from tests.support.guards import LENIENT

# --- the raw universe ---------------------------------------------------------------------------

FUNDS_CSV = """FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle
F01,E,Global,true,LU,A,MF
F02,E,Global,true,US,A,MF
F03,E,Asia Pacific,true,JP,A,MF
F04,E,Global,TRUE,us ,P,ETF
F05,E,Global,true,,A,MF
F06,E,JP,false,JP,A,MF
F07,E, jp,false,US,P,ETF
F08,E,DE,false,LU,A,MF
F09,E,KR,false,KR,A,MF
F10,E,TW,,TW,A,MF
F11,E,BR,false,BR,A,MF
F12,B,Global,true,DE,A,MF
F13,E,Europe,false,GB,A,MF
"""
SHARE_CLASSES_CSV = """ShareId,FundId,InvestorType
S01a,F01,Institutional
S01b,F01,Institutional
S01c,F01,Retail
S02a,F02,Retail
S02b,F02,Retail
S03a,F03,Institutional
S04a,F04,Institutional
S04b,F04,
S04c,F04,retail
S04d,F04,Retail
S05a,F05, Retail
S05b,F05,Institutional
S06a,F06,Retail
S06b,F06,Institutional
S07a,F07,Retail
S08a,F08,Institutional
S09a,F09,Retail
S09b,F09,Institutional
S10a,F10,Retail
S11a,F11,Institutional
S12a,F12,Institutional
S13a,F13,Retail
"""
# Wide allocations (percent). ZZ is no country: its cell is quarantined, the line's others
# stay. Blank and 0 are no allocation. The month is the ReportDate's, whatever the day.
ALLOCATIONS_CSV = """ReportDate,FundId,JP,US,DE,KR,GB,BR,ZZ
2023-09-29,F01,30,50,10,,,,
2023-09-29,F03,80,10,,,,,
2023-09-29,F12,,40,50,,,,
2023-10-31,F01,25,55,12.5,,,,
2023-10-31,F02,30,60,,,5,,
2023-10-31,F04,0,70,,20,,,
2023-10-31,F05,40,15,,40,,,
2023-10-31,F12,,45,45,,,,
2023-11-30,F01,20.1234,60,10,,,,2
2023-11-30,F03,70,5,,20,,,
2023-11-30,F04,5,65,,25,,,
2023-11-30,F05,45,15,,35,,,
2023-11-30,F09,,2,,97.5,,,
2023-11-30,F11,,,,,,,
2023-11-30,F12,,35,55,,,,
2023-12-15,F01,15,65,15,,,,
2023-12-15,F02,25,70,,,,1.75,
2023-12-15,F03,60,8,,30,,,
2023-12-15,F04,8,60,,30,,,
2023-12-15,F05,50,,10,30,,,
2023-12-15,F12,,30,60,,,,
2024-01-31,F01,90,5,,,,,
2024-01-31,F02,5,90,,,,,
2024-01-31,F03,5,5,,85,,,
"""
UNIVERSES_YAML = """universes:
  T-E:
    asset_class: [E]
  T-E-inst-xdom:
    asset_class: [E]
    investor_type: [Institutional]
    ex_domestic: true
  T-E-retail-notUS:
    asset_class: [E]
    investor_type: [Retail]
    domicile_not_in: [US]
"""
UNIVERSES = ["T-E", "T-E-inst-xdom", "T-E-retail-notUS"]
FIRST, LAST = dt.date(2023, 12, 1), dt.date(2024, 1, 31)
SATURDAY_ROW = (dt.date(2023, 12, 23), "S01a")  # a row the vendor dated on a Saturday


def _reports(share_id: str, d: dt.date) -> bool:
    """Which share classes deliver a row on weekday d (every weekday, holidays included,
    unless said otherwise)."""
    if share_id == "S02b":
        return d.weekday() in (0, 2, 4)  # Mondays, Wednesdays, Fridays only
    if share_id == "S04b":
        return d >= dt.date(2024, 1, 2)  # the Other class starts in January
    if share_id == "S06a":
        return d <= dt.date(2024, 1, 10)  # F06's retail class stops reporting
    if share_id == "S01c":
        return d != dt.date(2023, 12, 22)  # F01 has no retail row on the 22nd
    return True


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def write_raw(root: Path) -> dict[str, int]:
    """The raw files under root, as `ingest --input DIR` expects them; returns the number of
    rows ingest must quarantine per source and reason."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "funds.csv").write_text(FUNDS_CSV)
    (root / "share_classes.csv").write_text(SHARE_CLASSES_CSV)
    (root / "allocations.csv").write_text(ALLOCATIONS_CSV)
    shares = [line.split(",")[0] for line in SHARE_CLASSES_CSV.splitlines()[1:]]
    fund_of = {
        line.split(",")[0]: line.split(",")[1] for line in SHARE_CLASSES_CSV.splitlines()[1:]
    }
    days = [FIRST + dt.timedelta(n) for n in range((LAST - FIRST).days + 1)]
    weekdays = [d for d in days if d.weekday() < 5]
    rng = np.random.default_rng(20240123)
    parts: list[list[str]] = [[], []]
    holidays = 0
    for i, s in enumerate(shares):
        dates = [d for d in weekdays if _reports(s, d)]
        if s == SATURDAY_ROW[1]:
            dates = sorted(dates + [SATURDAY_ROW[0]])
        for d in dates:
            start = int(rng.integers(100_000_000, 9_000_000_000))  # US$1m .. 90m, cents
            flow = int(round(start * rng.normal(0, 0.01)))
            pc = int(round(start * rng.normal(0, 0.006)))
            fx = int(round(start * rng.normal(0, 0.001)))
            if s == "S03a" and d == dt.date(2024, 1, 5):
                flow = 0  # a reported zero
            end = start + flow + pc + fx
            if s == "S05b" and d == dt.date(2024, 1, 8):
                end += 50_000  # identity break
            pc_text = "" if (i + d.day) % 17 == 0 else _money(pc)  # blank sometimes
            parts[0 if fund_of[s] <= "F06" else 1].append(
                f"{d:%Y-%m-%d},{s},{fund_of[s]},{_money(flow)},{_money(start)},{_money(end)},"
                f"{pc_text},{_money(fx)}"
            )
            holidays += (d.month, d.day) in ((12, 25), (1, 1)) or d.weekday() >= 5
    (root / "flows").mkdir(exist_ok=True)
    header = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"
    for k, rows in enumerate(parts):
        (root / "flows" / f"part-{k:05d}.csv").write_text("\n".join([header, *rows]) + "\n")
    return {"flows": holidays, "allocations": 1}


# --- the reference: pandas over the raw files, the rules written again ----------------------

# docs/methodology.md section 10: the 52 countries
COUNTRIES = set(
    "AU BR CA CN ID IN JP KR MX MY PH RU SG TH TR TW ZA AR CL CO CZ EG HU IL NZ NO "
    "PE PL SE CH GB AT BE DK FI FR DE GR IE IT NL PT ES HK US JO MA PK AE QA SA "
    "KW".split()
)
ALL_TYPES = {"Institutional", "Retail", "Other"}
# the universes of UNIVERSES_YAML, by hand: asset class E, then types, ex-domestic, not-in
SPECS = {
    "T-E": dict(types=ALL_TYPES, xdom=False, not_in=set()),
    "T-E-inst-xdom": dict(types={"Institutional"}, xdom=True, not_in=set()),
    "T-E-retail-notUS": dict(types={"Retail"}, xdom=False, not_in={"US"}),
}
MEASURES = ("flow", "assets_start", "portfolio_change")
TABLE_COLUMN = {
    "flow": "flow_usd",
    "assets_start": "assets_start_usd",
    "portfolio_change": "portfolio_change_usd",
}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _is_flow_date(d: pd.Series) -> pd.Series:
    """Monday to Friday except 1 January and 25 December."""
    new_year = (d.dt.month == 1) & (d.dt.day == 1)
    christmas = (d.dt.month == 12) & (d.dt.day == 25)
    return (d.dt.weekday < 5) & ~new_year & ~christmas


def _snapshot_month(d: pd.Series) -> pd.Series:
    """The 23rd rule: the previous month's snapshot from the 23rd on, two months back before;
    months as year * 12 + month - 1."""
    back = np.where(d.dt.day >= 23, 1, 2)
    return d.dt.year * 12 + d.dt.month - 1 - back


def read_raw(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(funds, flows, stored allocations) as ingest stores them: text trimmed, codes
    upper-cased, CrossBorder true/false/blank, domicile '' when none; flow rows on flow dates
    with their share class's fund and investor type; allocations above 0 in the 52."""
    funds = _read(root / "funds.csv")
    funds = pd.DataFrame(
        {
            "fund": funds.FundId.str.strip(),
            "asset_class": funds.AssetClass.str.strip(),
            "focus": funds.GeographicFocus.str.strip().str.upper(),
            "cross_border": funds.CrossBorder.str.strip()
            .str.lower()
            .map({"true": True, "false": False, "": None}),
            "domicile": funds.Domicile.str.strip().str.upper(),
        }
    )
    sc = _read(root / "share_classes.csv")
    itype = sc.InvestorType.str.strip()
    sc = pd.DataFrame(
        {
            "share": sc.ShareId.str.strip(),
            "fund": sc.FundId.str.strip(),
            "investor_type": itype.where(itype.isin(["Institutional", "Retail"]), "Other"),
        }
    )
    flows = pd.concat([_read(p) for p in sorted((root / "flows").glob("*.csv"))], ignore_index=True)
    flows = pd.DataFrame(
        {
            "flow_date": pd.to_datetime(flows.ReportDate, format="%Y-%m-%d"),
            "share": flows.ShareId.str.strip(),
            "flow": flows.Flow.astype(float),
            "assets_start": flows.AssetsStart.astype(float),
            "assets_end": flows.AssetsEnd.astype(float),
            "portfolio_change": pd.to_numeric(flows.PortfolioChange.replace("", np.nan)),
        }
    )
    flows = flows[_is_flow_date(flows.flow_date)].merge(sc, on="share", validate="m:1")

    wide = _read(root / "allocations.csv")
    alloc = wide.melt(id_vars=["ReportDate", "FundId"], var_name="country", value_name="pct")
    alloc = alloc[alloc.pct.str.strip() != ""]
    report = pd.to_datetime(alloc.ReportDate, format="%Y-%m-%d")
    alloc = pd.DataFrame(
        {
            "fund": alloc.FundId.str.strip(),
            "month": report.dt.year * 12 + report.dt.month - 1,  # its own month
            "country": alloc.country.str.strip().str.upper(),
            "w": alloc.pct.astype(float) / 100.0,
        }
    )
    # stored: positive values in one of the 52 countries (blank, 0 and ZZ are not)
    stored = alloc[(alloc.w > 0) & alloc.country.isin(COUNTRIES)]
    return funds, flows, stored


def contributions(root: Path) -> pd.DataFrame:
    """One row per (universe, flow date, fund, investor type, country) that counts: the
    fund's sums over its share classes of that type, and its weight in the country."""
    funds, flows, stored = read_raw(root)
    # single-country: CrossBorder false (not blank), focus a country, nothing stored ever
    single = funds[
        funds.cross_border.eq(False) & funds.focus.isin(COUNTRIES) & ~funds.fund.isin(stored.fund)
    ]

    out = []
    for name, spec in SPECS.items():
        members = funds[(funds.asset_class == "E") & ~funds.domicile.isin(spec["not_in"])]
        rows = flows[flows.fund.isin(members.fund) & flows.investor_type.isin(spec["types"])]
        # fund-days per investor type; a blank PortfolioChange adds 0
        days = rows.groupby(["fund", "flow_date", "investor_type"], as_index=False)[
            list(MEASURES)
        ].sum()
        days["month"] = _snapshot_month(days.flow_date)
        snap = days.merge(stored, on=["fund", "month"])
        one = (
            days.merge(single[["fund", "focus"]], on="fund")
            .rename(columns={"focus": "country"})
            .assign(w=1.0)
        )
        j = pd.concat([snap, one], ignore_index=True).merge(
            members[["fund", "domicile"]], on="fund"
        )
        if spec["xdom"]:
            j = j[j.country != j.domicile]
        out.append(j.assign(universe=name))
    return pd.concat(out, ignore_index=True).drop(columns="month")


def _sums(contrib: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Weighted sums, the sums of their absolute terms (for the tolerance) and fund_count."""
    terms = {}
    for m in MEASURES:
        terms[f"{TABLE_COLUMN[m]}_ref"] = contrib[m] * contrib.w
        terms[f"{TABLE_COLUMN[m]}_abs"] = (contrib[m] * contrib.w).abs()
    c = contrib.assign(**terms)
    return c.groupby(keys, as_index=False).agg(
        **{k: (k, "sum") for k in terms},
        fund_count_ref=("fund", "nunique"),
        fund_types_ref=("fund", "size"),
    )


INVESTOR_KEY = ["universe", "flow_date", "investor_domicile", "investor_type", "country"]
COUNTRY_KEY = ["universe", "flow_date", "country"]


def investor_reference(contrib: pd.DataFrame) -> pd.DataFrame:
    return _sums(contrib.rename(columns={"domicile": "investor_domicile"}), INVESTOR_KEY)


def country_reference(contrib: pd.DataFrame) -> pd.DataFrame:
    return _sums(contrib, COUNTRY_KEY)


# --- the signals' reference (docs/signals.md), pandas over the same raw files ---------------


def _sgn(x: pd.Series) -> pd.Series:
    """The sign of a difference of weights (fractions) rounded at 1e-6 percentage points."""
    return np.sign(np.round(x * 100.0, 6))


def _long(wide: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    parts = []
    for name in names:
        part = wide[keys + [f"{name}_n", f"{name}_d"]].dropna(
            subset=[f"{name}_n", f"{name}_d"], how="all"
        )
        parts.append(
            part.rename(columns={f"{name}_n": "numerator", f"{name}_d": "denominator"}).assign(
                signal=name
            )
        )
    return pd.concat(parts, ignore_index=True)


def signals_reference(root: Path) -> pd.DataFrame:
    """Every signal of every universe over the raw window: long rows (universe, date,
    country, signal, numerator, denominator, value). Weights are fractions; a fund's day is
    its universe share classes summed; month-end assets are AssetsEnd on its last day."""
    funds, flows, stored = read_raw(root)
    out = []
    for name, spec in SPECS.items():
        members = funds[(funds.asset_class == "E") & ~funds.domicile.isin(spec["not_in"])]
        rows = flows[flows.fund.isin(members.fund) & flows.investor_type.isin(spec["types"])]
        fd = rows.groupby(["fund", "flow_date"], as_index=False)[
            ["flow", "assets_start", "assets_end"]
        ].sum()
        fd["s"] = _snapshot_month(fd.flow_date)
        fd["own"] = fd.flow_date.dt.year * 12 + fd.flow_date.dt.month - 1
        w = stored.merge(members[["fund", "domicile", "focus"]], on="fund")
        if spec["xdom"]:
            w = w[w.country != w.domicile]
        pairs = w.merge(
            w[["fund", "month", "country", "w"]].assign(month=lambda x: x.month + 1),
            on=["fund", "month", "country"],
            suffixes=("n", "o"),
        )
        pairs["dw"] = pairs.wn - pairs.wo
        ends = fd.sort_values("flow_date").groupby(["fund", "own"])
        month_assets = pd.DataFrame(
            {"S": ends.assets_start.first(), "E": ends.assets_end.last()}
        ).reset_index()

        # daily: the day's flow against the change from s-1 to s, and against the peers in s
        x = fd.merge(pairs, left_on=["fund", "s"], right_on=["fund", "month"])
        f, dw = x.flow, x.dw
        x = x.assign(
            FloTrend_n=f * dw,
            FloTrend_d=(f * dw).abs(),
            FloDiff_n=f * _sgn(dw),
            FloDiff_d=f.abs(),
            FloDiff2_n=dw * np.sign(f),
            FloDiff2_d=dw.abs(),
        )
        flo = ["FloTrend", "FloDiff", "FloDiff2"]
        cols = [f"{n}_{k}" for n in flo for k in "nd"]
        daily = x.groupby(["flow_date", "country"], as_index=False)[cols].sum()
        held = fd.merge(w, left_on=["fund", "s"], right_on=["fund", "month"]).merge(
            month_assets.rename(columns={"own": "s", "E": "A"})[["fund", "s", "A"]],
            on=["fund", "s"],
            how="left",
        )
        weigh = held[held.A.notna()].assign(Aw=lambda h: h.A * h.w)
        peers = weigh.groupby(["flow_date", "focus", "country"], as_index=False)[["Aw", "A"]].sum()
        peers["P"] = peers.Aw / peers.A
        act = held.merge(peers[["flow_date", "focus", "country", "P"]])
        a, f = act.w - act.P, act.flow
        act = act.assign(
            ActWtTrend_n=f * a,
            ActWtTrend_d=(f * a).abs(),
            ActWtDiff_n=f * _sgn(a),
            ActWtDiff_d=f.abs(),
            ActWtDiff2_n=a * np.sign(f),
            ActWtDiff2_d=a.abs(),
        )
        wt = ["ActWtTrend", "ActWtDiff", "ActWtDiff2"]
        cols = [f"{n}_{k}" for n in wt for k in "nd"]
        active = act.groupby(["flow_date", "country"], as_index=False)[cols].sum()
        day_rows = pd.concat(
            [
                _long(daily, ["flow_date", "country"], flo),
                _long(active, ["flow_date", "country"], wt),
            ]
        ).rename(columns={"flow_date": "date"})

        # monthly: month m of the flows against m-1, dated the 23rd of m+1
        mp = pairs.merge(month_assets, left_on=["fund", "month"], right_on=["fund", "own"])
        v, dw = mp.S + mp.E, mp.dw
        mp = mp.assign(
            AllocMo_n=2 * v * dw,
            AllocMo_d=v * (mp.wn + mp.wo),
            AllocTrend_n=v * dw,
            AllocTrend_d=(v * dw).abs(),
            AllocDiff_n=v * _sgn(dw),
            AllocDiff_d=v,
        )
        alloc = ["AllocMo", "AllocTrend", "AllocDiff"]
        changes = mp.groupby(["month", "country"], as_index=False)[
            [f"{n}_{k}" for n in alloc for k in "nd"]
        ].sum()
        h = w.merge(month_assets, left_on=["fund", "month"], right_on=["fund", "own"])
        h = h.assign(A=h.E, Aw=h.E * h.w)
        pk = h.groupby(["month", "focus", "country"], as_index=False)[["Aw", "A"]].sum()
        h = h.merge(pk.assign(P=pk.Aw / pk.A)[["month", "focus", "country", "P"]])
        d = h.w * h.A
        h = h.assign(
            AllocSkew_n=h.A * _sgn(h.P - h.w),
            AllocSkew_d=h.A,
            Herfindahl_n=d * d,
            D=d,
            HerfindahlEq_n=h.w * h.w,
            FundCt_n=1.0,
        )
        g = h.groupby(["month", "country"])
        hold = pd.DataFrame(
            {
                "AllocSkew_n": g.AllocSkew_n.sum(),
                "AllocSkew_d": g.AllocSkew_d.sum(),
                "Herfindahl_n": g.Herfindahl_n.sum(),
                "Herfindahl_d": g.D.sum() ** 2,
                "HerfindahlEq_n": g.HerfindahlEq_n.sum(),
                "HerfindahlEq_d": g.w.sum() ** 2,
                "FundCt_n": g.FundCt_n.sum(),
                "FundCt_d": np.nan,
            }
        ).reset_index()
        holders = ["AllocSkew", "Herfindahl", "HerfindahlEq", "FundCt"]
        month_rows = pd.concat(
            [
                _long(changes, ["month", "country"], alloc),
                _long(hold, ["month", "country"], holders),
            ]
        )
        nxt = month_rows.month + 1
        month_rows["date"] = pd.to_datetime(
            pd.DataFrame({"year": nxt // 12, "month": nxt % 12 + 1, "day": 23})
        )
        month_rows = month_rows.drop(columns="month")
        out.append(pd.concat([day_rows, month_rows], ignore_index=True).assign(universe=name))
    ref = pd.concat(out, ignore_index=True)
    ref = ref[(ref.date >= pd.Timestamp(FIRST)) & (ref.date <= pd.Timestamp(LAST))]
    n, dd = ref.numerator, ref.denominator
    ratio = (n / dd).where(dd > 0)
    ref["value"] = np.where(
        ref.signal == "FundCt",
        n,
        np.where(ref.signal.isin(["Herfindahl", "HerfindahlEq"]), 1.0 - ratio, ratio),
    )
    return ref.reset_index(drop=True)


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, dict[str, int], Path]:
    base = tmp_path_factory.mktemp("mosaic-raw")
    quarantined = write_raw(base / "raw")
    universes = base / "universes.yaml"
    universes.write_text(UNIVERSES_YAML)
    return base / "raw", quarantined, universes


@pytest.fixture(scope="module")
def contrib(raw) -> pd.DataFrame:
    return contributions(raw[0])


def _quiet(_message: str) -> None:
    pass


def ingest(spark, settings, raw) -> None:
    """The real ingest of the raw files; exactly the planted rows are quarantined."""
    root, quarantined, _ = raw
    # the planted bad rows are a large share of these few hand-written rows: let them through
    report = ingest_paths(spark, settings, directory=str(root), guard_limits=LENIENT)
    assert report.reconciled and not report.warnings, report.describe()
    by_reason = {s: r.by_reason for s, r in report.sources.items()}
    assert by_reason == {
        "funds": {},
        "share_classes": {},
        "allocations": {"unknown_country": quarantined["allocations"]},
        "flows": {"not_flow_date": quarantined["flows"]},
    }, by_reason


def run_job(spark, settings, raw, grain: str, engine: str) -> pd.DataFrame:
    """The real country-flows job (grain 'investor' = `flowmosaic mosaic-flows`) over the
    whole window; the rows of the version it wrote, read with delta-rs."""
    r = country_flows_run(
        spark,
        settings,
        UNIVERSES,
        universes_path=str(raw[2]),
        engine=engine,
        grain=grain,
        progress=_quiet,
    )
    assert (r.start, r.end) == (FIRST, LAST)
    df = DeltaTable(r.path, version=r.table_version).to_pandas()
    df["flow_date"] = pd.to_datetime(df.flow_date)
    return df


@pytest.fixture(scope="module")
def gold(spark, make_settings, tmp_path_factory, raw) -> dict[str, pd.DataFrame]:
    """One fresh warehouse for the module (ingest is the slow part, so it runs once): the raw
    files ingested, then investor_country_flows by both engines and country_flows; the
    tests only read what each run wrote."""
    settings = make_settings(tmp_path_factory.mktemp("mosaic-wh") / "wh")
    ingest(spark, settings, raw)
    signals = signals_run(spark, settings, UNIVERSES, universes_path=str(raw[2]), progress=_quiet)
    assert (signals.start, signals.end) == (FIRST, LAST)
    got = DeltaTable(signals.path, version=signals.table_version).to_pandas()
    got["date"] = pd.to_datetime(got.date)
    return {
        "investor/matrix": run_job(spark, settings, raw, "investor", "matrix"),
        "investor/join": run_job(spark, settings, raw, "investor", "join"),
        "country/matrix": run_job(spark, settings, raw, "country", "matrix"),
        "signals": got,
    }


def compare(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Row for row in both directions; sums within the terms' tolerance; fund_count exact."""
    m = want.merge(got, on=keys, how="outer", indicator=True)
    extra, missing = m[m._merge == "right_only"], m[m._merge == "left_only"]
    assert extra.empty, f"rows the reference does not have:\n{extra[keys].head(10)}"
    assert missing.empty, f"reference rows the table lacks:\n{missing[keys].head(10)}"
    for col in TABLE_COLUMN.values():
        tol.assert_within(m, col, f"{col}_ref", tol.sum_tolerance(m[f"{col}_abs"]), what=col)
    bad = m[m.fund_count != m.fund_count_ref]
    assert bad.empty, bad[keys + ["fund_count", "fund_count_ref"]].head(10)
    return m


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["matrix", "join"])
def test_investor_grain_matches_the_independent_reference(gold, contrib, engine):
    """Both engines write exactly the reference's investor_country_flows rows: no row more,
    none missing, sums to 1e-9 of their terms, fund_count equal."""
    got = gold[f"investor/{engine}"]
    want = investor_reference(contrib)
    m = compare(got, want, INVESTOR_KEY)
    assert len(m) == len(want) > 300 and set(m.universe) == set(UNIVERSES)


def test_country_flows_is_investor_country_flows_summed(gold, contrib):
    """Summed over investor domicile and type, investor_country_flows gives country_flows of
    the same universes: the same (universe, date, country) rows, flow, assets and portfolio
    change to 1e-9 of their terms. fund_count is not additive (a fund counts once per type
    that reported): the sum over types is the country count plus, per contributing fund, its
    reporting types beyond the first; it equals the count where each fund reported one type.
    Per domicile, the largest type count <= the domicile's funds <= the sum over types."""
    icf, cf = gold["investor/matrix"], gold["country/matrix"]
    measures = list(TABLE_COLUMN.values())
    summed = icf.groupby(COUNTRY_KEY, as_index=False).agg(
        **{f"{c}_icf": (c, "sum") for c in measures}, count_sum=("fund_count", "sum")
    )
    per_dom = icf.groupby(COUNTRY_KEY + ["investor_domicile"]).fund_count.max()
    summed = summed.merge(
        per_dom.groupby(COUNTRY_KEY).sum().rename("count_floor").reset_index(), on=COUNTRY_KEY
    )
    m = cf.merge(summed, on=COUNTRY_KEY, how="outer", indicator=True)
    assert (m._merge == "both").all(), m.loc[m._merge != "both", COUNTRY_KEY + ["_merge"]]
    assert len(m) > 150
    ref = country_reference(contrib)
    m = m.merge(ref, on=COUNTRY_KEY, how="left", validate="1:1")
    for c in measures:  # tolerance: the absolute terms of the country's sum (the reference's)
        tol.assert_within(m, c, f"{c}_icf", tol.sum_tolerance(m[f"{c}_abs"]), what=c)
    shown = COUNTRY_KEY + ["fund_count", "count_floor", "count_sum", "fund_types_ref"]
    bounds = (m.count_floor <= m.fund_count) & (m.fund_count <= m.count_sum)
    assert bounds.all(), m.loc[~bounds, shown].head(10)
    exact = m.count_sum - m.fund_count == m.fund_types_ref - m.fund_count_ref
    assert exact.all(), m.loc[~exact, shown + ["fund_count_ref"]].head(10)
    # both cases occur: funds reporting two or three types, and rows where every fund has one
    assert (m.count_sum > m.fund_count).any() and (m.count_sum == m.fund_count).any()
    # and the country table itself is the reference's
    compare(cf, ref, COUNTRY_KEY)


def test_the_hand_built_universe_covers_the_cases(contrib):
    """The reference's rows hold every case the module docstring lists (so the comparisons
    above are not vacuous)."""
    c = contrib[contrib.universe == "T-E"]

    def days(fund, country=None):
        sel = c[(c.fund == fund) & ((c.country == country) if country else True)]
        return set(sel.flow_date.dt.date)

    def weight(fund, country, day):
        return set(
            c[(c.fund == fund) & (c.country == country) & (c.flow_date == pd.Timestamp(day))].w
        )

    d = dt.date
    # the switches: October's weights to the 22nd, November's from the 26th (23-25 no flow
    # date), November's to 22 January, December's from the 23rd; never September's or January's
    assert weight("F01", "JP", d(2023, 12, 22)) == {0.25}
    assert weight("F01", "JP", d(2023, 12, 26)) == {0.201234}
    assert weight("F01", "JP", d(2024, 1, 22)) == {0.201234}
    assert weight("F01", "JP", d(2024, 1, 23)) == {0.15}
    assert not {d(2023, 12, 23), d(2023, 12, 25), d(2024, 1, 1)} & days("F01")
    # missing snapshots: F02 has no November one, F03 no October one
    nov_days = {x for x in days("F01") if d(2023, 12, 26) <= x <= d(2024, 1, 22)}
    oct_days = {x for x in days("F01") if x <= d(2023, 12, 22)}
    assert days("F02") == days("F01") - nov_days and days("F03") == days("F01") - oct_days
    # single-country funds: weight 1 in their focus every date; F09 (a snapshot) only on
    # November's dates, F10 (CrossBorder blank), F13 (no country) and the bond fund never
    assert set(c[c.fund.isin(["F06", "F07", "F08", "F11"])].w) == {1.0}
    assert days("F07", "JP") == days("F08", "DE") == days("F11", "BR") == days("F01")
    assert days("F09") == nov_days and weight("F09", "KR", d(2024, 1, 2)) == {0.975}
    assert not {"F10", "F12", "F13"} & set(contrib.fund)
    # investor types: F02 and F07 retail only, F08 institutional only, F04 every type
    types = c.groupby("fund").investor_type.agg(set)
    assert types["F02"] == types["F07"] == {"Retail"} and types["F08"] == {"Institutional"}
    assert types["F04"] == ALL_TYPES and "" in set(c.domicile)
    # ex-domestic: F06 (JP in JP) counts nowhere, F09 (KR) only in US
    x = contrib[contrib.universe == "T-E-inst-xdom"]
    assert "F06" not in set(x.fund) and set(x[x.fund == "F09"].country) == {"US"}
    # domicile_not_in US keeps the fund without a domicile
    r = contrib[contrib.universe == "T-E-retail-notUS"]
    assert "F05" in set(r.fund) and not {"F02", "F04", "F07"} & set(r.fund)


SIGNAL_NAMES = (
    "FloTrend FloDiff FloDiff2 ActWtTrend ActWtDiff ActWtDiff2 AllocMo AllocTrend AllocDiff "
    "AllocSkew Herfindahl HerfindahlEq FundCt".split()
)
SIGNAL_KEY = ["universe", "date", "country", "signal"]


def test_signals_match_the_independent_reference(gold, raw):
    """country_signals of the three universes (the signals job over the whole window) holds
    exactly the reference's rows: numerators and denominators to 1e-9 of the denominator,
    values to 1e-8, the same missing values. The comparison is not vacuous: every signal has
    rows, the active-weight ones from 23 January (the first day whose snapshot month, December,
    has month-end assets), the monthly ones dated 23 January (December's)."""
    got, want = gold["signals"], signals_reference(raw[0])
    m = want.merge(got, on=SIGNAL_KEY, how="outer", suffixes=("_ref", ""), indicator=True)
    extra, missing = m[m._merge == "right_only"], m[m._merge == "left_only"]
    assert extra.empty, f"rows the reference does not have:\n{extra[SIGNAL_KEY].head(10)}"
    assert missing.empty, f"reference rows the table lacks:\n{missing[SIGNAL_KEY].head(10)}"
    scale = m.denominator_ref.abs().fillna(0.0) + 1e-12
    for col in ("numerator", "denominator"):
        a, b = m[col].astype(float), m[f"{col}_ref"].astype(float)
        same = (a.isna() & b.isna()) | ((a - b).abs() <= 1e-9 * scale)
        assert same.all(), m.loc[~same, SIGNAL_KEY + [col, f"{col}_ref"]].head(10)
    a, b = m.value.astype(float), m.value_ref.astype(float)
    same = (a.isna() & b.isna()) | ((a - b).abs() <= 1e-8)
    assert same.all(), m.loc[~same, SIGNAL_KEY + ["value", "value_ref"]].head(10)
    t = m[m.universe == "T-E"]
    counts = t.groupby("signal").size()
    assert set(counts.index) == set(SIGNAL_NAMES) and (counts > 0).all(), counts
    act = t[t.signal.str.startswith("ActWt")]
    assert act.date.min() == pd.Timestamp(2024, 1, 23)
    monthly = t[t.signal.isin(["AllocMo", "AllocSkew", "FundCt"])]
    assert set(monthly.date) == {pd.Timestamp(2024, 1, 23)}
    assert len(m) > 500 and set(m.universe) == set(UNIVERSES)
