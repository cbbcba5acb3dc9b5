"""The mosaic analyses on investor_country_flows (pandas).

Input `icf`: one row per (universe, flow_date, investor_domicile, investor_type, country) with
flow_usd (US$ flow into `country` by the group's funds) and assets_start_usd (the group's
holdings in `country` at the start of the day, US$); `ihf` (investor_hedge_flows, for
hedge_split) is the same with hedge_status in place of investor_type. Every function returns
a tidy DataFrame fit for CSV. The definitions (domestic, foreign, offshore, home bias,
persistence, the hedge split) are in docs/mosaic.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from flowmosaic.errors import InputError

ICF_COLUMNS = (
    "universe",
    "flow_date",
    "investor_domicile",
    "investor_type",
    "country",
    "flow_usd",
    "assets_start_usd",
)

# Fund hubs whose domicile says where the fund is administered, not where its investors live:
# the cross-border UCITS centres (LU, IE, plus LI and MT), the Caribbean hedge-fund and
# master-feeder jurisdictions (KY, BM, VG) and the Channel Islands (JE, GG).
OFFSHORE_DOMICILES = ("LU", "IE", "KY", "BM", "JE", "GG", "LI", "MT", "VG")

GROUPS = ("domestic", "foreign", "offshore")
INVESTOR_TYPES = ("Institutional", "Retail", "Other")
ALL = "All"
FREQS = ("D", "W", "M")


# --- helpers ------------------------------------------------------------------------------------


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise InputError naming the columns `what` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {missing}; has {list(df.columns)}")


def universe_rows(icf: pd.DataFrame, universe: str, start=None, end=None) -> pd.DataFrame:
    """The rows of one universe within [start, end], flow_date as datetime64."""
    require_columns(icf, ICF_COLUMNS, "investor_country_flows")
    rows = icf[icf["universe"] == universe]
    if rows.empty:
        known = sorted(map(str, icf["universe"].unique()))
        raise InputError(f"universe {universe!r} not in investor_country_flows; has {known}")
    rows = rows.assign(flow_date=pd.to_datetime(rows["flow_date"]))
    if start is not None:
        rows = rows[rows["flow_date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["flow_date"] <= pd.Timestamp(end)]
    return rows


def period_end(dates, freq: str) -> pd.Series:
    """The label of each date's period: the date itself (D), the Friday ending its week (W,
    weeks run Saturday to Friday) or the last calendar day of its month (M)."""
    d = pd.Series(pd.to_datetime(dates)).dt.normalize()
    if freq == "D":
        return d
    if freq == "W":
        return d + pd.to_timedelta((4 - d.dt.weekday) % 7, unit="D")
    if freq == "M":
        return d + pd.offsets.MonthEnd(0)
    raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")


def investor_groups(
    domiciles: pd.Series,
    country: str,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
) -> pd.Series:
    """'domestic', 'foreign' or 'offshore' for each fund domicile, seen from `country`.

    A domicile listed in offshore_map is first relabelled to its mapped domicile or region;
    an unmapped domicile in `offshore` is 'offshore' (even when it is `country` itself: an
    offshore fund's investors are not residents of the hub); otherwise 'domestic' when the
    (relabelled) domicile equals `country`, else 'foreign'.
    """
    mapping = dict(offshore_map or {})
    dom = domiciles.astype(str)
    label = dom.map(lambda d: mapping.get(d, d))
    is_offshore = dom.isin(list(offshore)) & ~dom.isin(list(mapping))
    out = np.where(is_offshore, "offshore", np.where(label == country, "domestic", "foreign"))
    return pd.Series(out, index=domiciles.index, name="group")


def domicile_labels(
    domiciles: pd.Series,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
) -> pd.Series:
    """Row labels for the matrix: the mapped domicile/region for domiciles in offshore_map,
    'offshore' for the other offshore domiciles, the domicile itself otherwise."""
    mapping = dict(offshore_map or {})
    dom = domiciles.astype(str)
    out = dom.map(lambda d: mapping[d] if d in mapping else ("offshore" if d in offshore else d))
    return out.rename("domicile")


def _pct(num, den):
    """100 x num / den, NaN where den is missing or not positive."""
    den = pd.Series(den, dtype=float) if not isinstance(den, pd.Series) else den.astype(float)
    return 100.0 * num / den.where(den > 0)


def format_usd(x: float, digits: int = 1) -> str:
    """US$ amount for text: -$23.1bn, +$450.2m, +$12,345 (sign shown unless zero)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(float(x))
    sign = "" if a == 0 else ("-" if x < 0 else "+")
    if a >= 1e9 or a == 0:
        body = f"{a / 1e9:,.{digits}f}bn"
    elif a >= 1e6:
        body = f"{a / 1e6:,.{digits}f}m"
    else:
        body = f"{a:,.0f}"
    return f"{sign}${body}"


# --- a) domestic / foreign / offshore flows into a country --------------------------------------

FLOW_COLUMNS = [
    "universe",
    "country",
    "freq",
    "date",
    "group",
    "investor_type",
    "flow_usd",
    "assets_start_usd",
    "flow_pct",
    "cum_flow_usd",
    "ytd_flow_usd",
]


def domestic_foreign_flows(
    icf: pd.DataFrame,
    country: str,
    universe: str,
    freq: str = "D",
    *,
    start=None,
    end=None,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Flows into `country` split into domestic / foreign / offshore investors, by investor type
    (Institutional, Retail, Other and All), per day (D), week ending Friday (W) or month (M).

    One row per (group, investor_type, date) for every period of the universe's flow dates in
    [start, end] (a group without funds that day has flow 0 and no assets). Columns:
      flow_usd          sum of the period's flows (US$)
      assets_start_usd  the group's holdings in `country` on the first day of the period on
                        which it has any (US$)
      flow_pct          100 x flow_usd / assets_start_usd (% of the group's holdings)
      cum_flow_usd      flows summed from the first flow date >= start to the period's end
      ytd_flow_usd      flows summed from 1 January to the period's end (a week straddling
                        New Year counts only its January days)
    `date` labels the period by its end: the flow date, the Friday, or the month's last day.
    """
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")
    rows = universe_rows(icf, universe, start, end)
    dates = pd.DatetimeIndex(sorted(rows["flow_date"].unique()), name="date")
    rows = rows[rows["country"] == country]
    if rows.empty:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    rows = rows.assign(
        group=investor_groups(rows["investor_domicile"], country, offshore, offshore_map)
    )

    def daily(keys):
        g = rows.groupby(keys)
        return pd.DataFrame(
            {
                "flow_usd": g["flow_usd"].sum(),
                "assets_start_usd": g["assets_start_usd"].sum(min_count=1),
            }
        )

    by_type = daily(["group", "investor_type", "flow_date"])
    all_types = daily(["group", "flow_date"])
    all_types.index = pd.MultiIndex.from_tuples(
        [(g, ALL, d) for g, d in all_types.index], names=by_type.index.names
    )
    day = pd.concat([by_type, all_types])

    groups = [g for g in GROUPS if g in set(rows["group"])]
    present = set(rows["investor_type"].astype(str))
    types = [t for t in INVESTOR_TYPES if t in present] + sorted(present - set(INVESTOR_TYPES))
    grid = pd.MultiIndex.from_product(
        [groups, types + [ALL], dates], names=["group", "investor_type", "date"]
    )
    day.index = day.index.set_names(["group", "investor_type", "date"])
    day = day.reindex(grid)
    day["flow_usd"] = day["flow_usd"].fillna(0.0)
    day = day.reset_index()
    keys = ["group", "investor_type"]
    day["cum_flow_usd"] = day.groupby(keys)["flow_usd"].cumsum()
    day["ytd_flow_usd"] = day.groupby(keys + [day["date"].dt.year])["flow_usd"].cumsum()

    if freq != "D":
        day["date"] = period_end(day["date"], freq).to_numpy()
        day = (
            day.groupby(keys + ["date"], sort=False)
            .agg(
                flow_usd=("flow_usd", "sum"),
                assets_start_usd=("assets_start_usd", "first"),
                cum_flow_usd=("cum_flow_usd", "last"),
                ytd_flow_usd=("ytd_flow_usd", "last"),
            )
            .reset_index()
        )
    day["flow_pct"] = _pct(day["flow_usd"], day["assets_start_usd"])
    day.insert(0, "universe", universe)
    day.insert(1, "country", country)
    day.insert(2, "freq", freq)
    return day[FLOW_COLUMNS].reset_index(drop=True)


def _group_phrase(group: str, investor_type: str, country: str) -> str:
    who = "all investors" if investor_type == ALL else f"{investor_type.lower()} investors"
    return {
        "domestic": f"{who} domiciled in {country}",
        "foreign": f"{who} domiciled outside {country}",
        "offshore": f"{who} in offshore funds",
    }.get(group, f"{who} ({group})")


def flow_summary(
    flows: pd.DataFrame, group: str, investor_type: str = ALL, *, measure: str = "ytd", as_of=None
) -> str:
    """One line from a domestic_foreign_flows table, e.g.
    'retail investors domiciled in JP: -$23.1bn YTD (to 2024-03-28)'.

    measure 'ytd' (from 1 January) or 'cum' (since the table's first date); as_of: the last
    period on or before this date (default: the table's last).
    """
    if measure not in ("ytd", "cum"):
        raise ValueError(f"measure must be 'ytd' or 'cum', not {measure!r}")
    sel = flows[(flows["group"] == group) & (flows["investor_type"] == investor_type)]
    if as_of is not None:
        sel = sel[sel["date"] <= pd.Timestamp(as_of)]
    country = str(flows["country"].iloc[0]) if len(flows) else "?"
    phrase = _group_phrase(group, investor_type, country)
    if sel.empty:
        return f"{phrase}: no data"
    last = sel.sort_values("date").iloc[-1]
    if measure == "ytd":
        return f"{phrase}: {format_usd(last['ytd_flow_usd'])} YTD (to {last['date']:%Y-%m-%d})"
    first = flows["date"].min()
    return (
        f"{phrase}: {format_usd(last['cum_flow_usd'])} since {first:%Y-%m-%d} "
        f"(to {last['date']:%Y-%m-%d})"
    )


# --- b) domicile x destination matrix -----------------------------------------------------------


def domicile_matrix(
    icf: pd.DataFrame,
    universe: str,
    start=None,
    end=None,
    *,
    value: str = "flow_usd",
    holdings: str = "last",
    investor_type: str | None = None,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Investor domicile (rows) x destination country (columns), US$, over [start, end].

    value 'flow_usd': flows summed over the range. value 'holdings_usd': assets_start_usd on
    the universe's last flow date in the range (holdings='last'), or the mean over the range's
    flow dates, a day without a row counting as 0 (holdings='mean').
    Rows: fund domiciles, the offshore ones grouped as 'offshore' (or relabelled by
    offshore_map); investor_type restricts to one type (default all). Missing cells are 0.
    Rows and columns are ordered by the absolute total, largest first.
    """
    if value not in ("flow_usd", "holdings_usd"):
        raise ValueError(f"value must be 'flow_usd' or 'holdings_usd', not {value!r}")
    if holdings not in ("last", "mean"):
        raise ValueError(f"holdings must be 'last' or 'mean', not {holdings!r}")
    rows = universe_rows(icf, universe, start, end)
    n_dates = rows["flow_date"].nunique()
    last_date = rows["flow_date"].max()
    if investor_type is not None:
        rows = rows[rows["investor_type"] == investor_type]
    rows = rows.assign(domicile=domicile_labels(rows["investor_domicile"], offshore, offshore_map))
    if value == "flow_usd":
        cells = rows.groupby(["domicile", "country"])["flow_usd"].sum()
    elif holdings == "last":
        cells = (
            rows[rows["flow_date"] == last_date]
            .groupby(["domicile", "country"])["assets_start_usd"]
            .sum()
        )
    else:
        cells = rows.groupby(["domicile", "country"])["assets_start_usd"].sum() / max(n_dates, 1)
    wide = cells.unstack("country", fill_value=0.0).astype(float)
    if wide.empty:
        return wide
    r = wide.abs().sum(axis=1).sort_index().sort_values(ascending=False, kind="stable").index
    c = wide.abs().sum(axis=0).sort_index().sort_values(ascending=False, kind="stable").index
    out = wide.loc[r, c]
    out.index.name, out.columns.name = "domicile", None
    return out


# --- c) home bias -------------------------------------------------------------------------------


def home_bias(
    icf: pd.DataFrame,
    universe: str,
    destination: str | None = None,
    *,
    holdings: str = "month_end",
    investor_type: str | None = None,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Monthly home bias of each fund domicile d: where d's funds hold their assets.

    Holdings per month: assets_start_usd on the universe's last flow date of the month
    (holdings='month_end') or the mean over the month's flow dates, a day without a row
    counting as 0 (holdings='mean'). Columns (US$ and % of d's holdings):
      holdings_usd        all holdings of d's funds
      home_usd            held in country d; foreign_usd = holdings_usd - home_usd
      home_share_pct      100 x home / all; foreign_share_pct = 100 - home_share_pct
      destination_usd     held in `destination` X
      destination_share_of_foreign_pct   100 x X / (holdings outside d)
      destination_share_of_total_pct     100 x X / all
    Offshore domiciles have no home: their home and foreign columns and the share of the
    foreign portfolio are NaN; the share of the total is given. When X is d itself, its share
    of the foreign portfolio is NaN.
    """
    if holdings not in ("month_end", "mean"):
        raise ValueError(f"holdings must be 'month_end' or 'mean', not {holdings!r}")
    rows = universe_rows(icf, universe, start, end)
    rows = rows.assign(month=period_end(rows["flow_date"], "M").to_numpy())
    dates = rows[["month", "flow_date"]].drop_duplicates()
    if investor_type is not None:
        rows = rows[rows["investor_type"] == investor_type]
    if holdings == "month_end":
        last = dates.groupby("month")["flow_date"].max()
        rows = rows[rows["flow_date"].isin(last.to_numpy())]
        scale = pd.Series(1.0, index=last.index)
    else:
        scale = 1.0 / dates.groupby("month")["flow_date"].nunique()

    rows = rows.assign(
        home=rows["country"] == rows["investor_domicile"], dest=rows["country"] == destination
    )
    a = rows["assets_start_usd"].fillna(0.0)
    rows = rows.assign(
        total_usd=a, home_usd=a.where(rows["home"], 0.0), destination_usd=a.where(rows["dest"], 0.0)
    )
    out = (
        rows.groupby(["month", "investor_domicile"])[["total_usd", "home_usd", "destination_usd"]]
        .sum()
        .reset_index()
    )
    s = out["month"].map(scale).to_numpy()
    for c in ("total_usd", "home_usd", "destination_usd"):
        out[c] = out[c] * s
    out = out.rename(columns={"investor_domicile": "domicile", "total_usd": "holdings_usd"})
    out.insert(2, "offshore", out["domicile"].isin(list(offshore)))
    off = out["offshore"]
    out["home_usd"] = out["home_usd"].mask(off)
    out["foreign_usd"] = out["holdings_usd"] - out["home_usd"]
    out["home_share_pct"] = _pct(out["home_usd"], out["holdings_usd"])
    out["foreign_share_pct"] = 100.0 - out["home_share_pct"]
    cols = [
        "month",
        "domicile",
        "offshore",
        "holdings_usd",
        "home_usd",
        "foreign_usd",
        "home_share_pct",
        "foreign_share_pct",
    ]
    if destination is not None:
        out["destination"] = destination
        foreign_den = out["foreign_usd"].mask(out["domicile"] == destination)
        out["destination_share_of_foreign_pct"] = _pct(out["destination_usd"], foreign_den)
        out["destination_share_of_total_pct"] = _pct(out["destination_usd"], out["holdings_usd"])
        cols += [
            "destination",
            "destination_usd",
            "destination_share_of_foreign_pct",
            "destination_share_of_total_pct",
        ]
    out.insert(0, "universe", universe)
    return out[["universe"] + cols].sort_values(["month", "domicile"]).reset_index(drop=True)


# --- d) persistence -----------------------------------------------------------------------------

PERSISTENCE_COLUMNS = ["date", "flow", "trailing_mean", "trailing_sd", "zscore", "streak"]


def streaks(values: pd.Series) -> pd.Series:
    """Signed count of consecutive periods with the same sign, up to and including each one:
    +3 = third period of inflows in a row, -5 = fifth of outflows; 0 for a zero or missing
    value (which also ends a run)."""
    sign = np.sign(values.to_numpy(dtype=float))
    sign[np.isnan(sign)] = 0
    out = np.zeros(len(sign), dtype=int)
    for i, s in enumerate(sign):
        if s == 0:
            continue
        out[i] = (out[i - 1] + int(s)) if i and np.sign(out[i - 1]) == s else int(s)
    return pd.Series(out, index=values.index, name="streak")


def persistence(flows: pd.Series, window: int = 52, min_periods: int = 26) -> pd.DataFrame:
    """Z-score and streak of each period's flow (e.g. weekly, US$).

    zscore = (flow - trailing_mean) / trailing_sd, the mean and standard deviation (ddof 1)
    of the previous `window` periods, the current one excluded, NaN with fewer than
    min_periods of them or a zero deviation. streak: see streaks().
    """
    if min_periods < 2:
        raise ValueError("min_periods must be at least 2 (a standard deviation needs two values)")
    s = flows.astype(float).sort_index()
    past = s.shift(1).rolling(window, min_periods=min_periods)
    mean, sd = past.mean(), past.std(ddof=1)
    z = (s - mean) / sd.where(sd > 0)
    return pd.DataFrame(
        {
            "date": s.index,
            "flow": s.to_numpy(),
            "trailing_mean": mean.to_numpy(),
            "trailing_sd": sd.to_numpy(),
            "zscore": z.to_numpy(),
            "streak": streaks(s).to_numpy(),
        }
    )


def flow_persistence(
    flows: pd.DataFrame, window: int = 52, min_periods: int = 26, value: str = "flow_usd"
) -> pd.DataFrame:
    """persistence() for every (group, investor_type) of a weekly domestic_foreign_flows
    table; value 'flow_usd' (US$) or 'flow_pct' (% of the group's holdings)."""
    if len(flows) and set(flows["freq"]) != {"W"}:
        raise ValueError("flow_persistence wants a weekly table: domestic_foreign_flows(freq='W')")
    parts = []
    for (g, t), sub in flows.groupby(["group", "investor_type"], sort=False):
        p = persistence(sub.set_index("date")[value], window, min_periods)
        p.insert(0, "group", g)
        p.insert(1, "investor_type", t)
        parts.append(p)
    if not parts:
        return pd.DataFrame(columns=["group", "investor_type"] + PERSISTENCE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def streak_runs(p: pd.DataFrame) -> pd.DataFrame:
    """The runs of a persistence() table: one row per maximal run of same-sign flows, with
    start, end, periods, direction ('buying' / 'selling'), flow (sum), mean and extreme
    z-score (the most negative when selling), and ongoing (the run reaches the last period)."""
    cols = ["start", "end", "periods", "direction", "flow", "mean_z", "extreme_z", "ongoing"]
    p = p.reset_index(drop=True)
    streak = p["streak"].to_numpy()
    out = []
    i = 0
    while i < len(p):
        if streak[i] == 0:
            i += 1
            continue
        j = i
        while (
            j + 1 < len(p)
            and abs(streak[j + 1]) == abs(streak[j]) + 1
            and np.sign(streak[j + 1]) == np.sign(streak[i])
        ):
            j += 1
        run = p.iloc[i : j + 1]
        selling = streak[i] < 0
        z = run["zscore"]
        out.append(
            {
                "start": run["date"].iloc[0],
                "end": run["date"].iloc[-1],
                "periods": j - i + 1,
                "direction": "selling" if selling else "buying",
                "flow": run["flow"].sum(),
                "mean_z": z.mean(),
                "extreme_z": z.min() if selling else z.max(),
                "ongoing": j == len(p) - 1,
            }
        )
        i = j + 1
    return pd.DataFrame(out, columns=cols)


def persistence_by_year(p: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year of a persistence() table: periods, selling periods, the longest
    selling and buying runs (counted within the year), total flow, lowest and highest z."""
    d = p.assign(year=pd.to_datetime(p["date"]).dt.year)
    rows = []
    for year, sub in d.groupby("year"):
        st = streaks(sub["flow"].reset_index(drop=True))
        rows.append(
            {
                "year": int(year),
                "periods": len(sub),
                "selling_periods": int((sub["flow"] < 0).sum()),
                "longest_selling_run": int(max(0, -st.min())),
                "longest_buying_run": int(max(0, st.max())),
                "flow": sub["flow"].sum(),
                "min_z": sub["zscore"].min(),
                "max_z": sub["zscore"].max(),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "year",
            "periods",
            "selling_periods",
            "longest_selling_run",
            "longest_buying_run",
            "flow",
            "min_z",
            "max_z",
        ],
    )


def persistence_summary(p: pd.DataFrame, unit: str = "week", money: bool = True) -> str:
    """One line on the latest period against the history, e.g. 'week to 2024-03-29: -$1.2bn,
    z -1.9; 5th week of selling in a row (-$4.3bn over the run); longest selling run before:
    11 weeks to 2022-05-13 (-$12.0bn)'. money=False formats flows as plain numbers."""
    if p.empty:
        return "no data"
    fmt = format_usd if money else (lambda v: f"{v:+,.2f}")
    last = p.iloc[-1]
    z = "n/a" if not np.isfinite(last["zscore"]) else f"{last['zscore']:+.1f}"
    text = f"{unit} to {pd.Timestamp(last['date']):%Y-%m-%d}: {fmt(last['flow'])}, z {z}"
    runs = streak_runs(p)
    if int(last["streak"]) != 0:
        cur = runs.iloc[-1]
        n = int(cur["periods"])
        text += (
            f"; {_ordinal(n)} {unit} of {cur['direction']} in a row "
            f"({fmt(cur['flow'])} over the run)"
        )
        earlier = runs.iloc[:-1]
        direction = cur["direction"]
    else:
        earlier, direction = runs, "selling"
    earlier = earlier[earlier["direction"] == direction]
    if len(earlier):
        best = earlier.sort_values(["periods", "end"], ascending=[False, False]).iloc[0]
        text += (
            f"; longest {direction} run before: {int(best['periods'])} {unit}s to "
            f"{pd.Timestamp(best['end']):%Y-%m-%d} ({fmt(best['flow'])})"
        )
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --- e) hedged and unhedged share classes ------------------------------------------------------

IHF_COLUMNS = (
    "universe",
    "flow_date",
    "investor_domicile",
    "hedge_status",
    "country",
    "flow_usd",
    "assets_start_usd",
)
HEDGE_STATUSES = ("hedged", "unhedged", "unknown")
HEDGE_COLUMNS = [
    "universe",
    "country",
    "group",
    "freq",
    "date",
    *[f"{s}_flow_usd" for s in HEDGE_STATUSES],
    *[f"{s}_assets_usd" for s in HEDGE_STATUSES],
    *[f"cum_{s}_flow_usd" for s in HEDGE_STATUSES],
    "implied_fx_flow_usd",
    "cum_implied_fx_flow_usd",
    "hedge_ratio_pct",
    "flagged_pct",
]


def hedge_flags_delivered(ihf: pd.DataFrame, universe: str) -> bool:
    """Whether any share class of the universe carries a hedge flag (a row not 'unknown')."""
    require_columns(ihf, IHF_COLUMNS, "investor_hedge_flows")
    rows = ihf[ihf["universe"] == universe]
    return bool((rows["hedge_status"] != "unknown").any())


def hedge_split(
    ihf: pd.DataFrame,
    country: str,
    universe: str,
    freq: str = "D",
    *,
    group: str = "foreign",
    start=None,
    end=None,
    offshore: Iterable[str] = OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One investor group's flows into `country` through hedged, unhedged and unknown share
    classes (investor_hedge_flows), and the currency flow they imply, per day (D), week (W)
    or month (M), one row per period of the universe's flow dates in [start, end].

    Columns, for s in hedged, unhedged, unknown (docs/mosaic.md, "Hedged and unhedged share
    classes"):
      s_flow_usd            the period's flows through classes of status s (0 without any)
      s_assets_usd          the group's holdings in `country` through them, on the period's
                            first day with holdings (missing when none)
      cum_s_flow_usd        flows summed from the first flow date >= start
      implied_fx_flow_usd   the purchase of `country`'s currency the flows imply: the
                            unhedged flow (a hedged class sells the currency forward again);
                            the unknown classes' flow is left out (cum_implied_fx_flow_usd:
                            summed from the start)
      hedge_ratio_pct       100 x hedged / (hedged + unhedged) holdings (missing when both
                            are 0)
      flagged_pct           100 x (hedged + unhedged) / all holdings: how much of the group
                            the ratio describes
    The group is as in domestic_foreign_flows (seen from `country`).
    """
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")
    require_columns(ihf, IHF_COLUMNS, "investor_hedge_flows")
    rows = ihf[ihf["universe"] == universe]
    if rows.empty:
        known = sorted(map(str, ihf["universe"].unique()))
        raise InputError(f"universe {universe!r} not in investor_hedge_flows; has {known}")
    rows = rows.assign(flow_date=pd.to_datetime(rows["flow_date"]))
    if start is not None:
        rows = rows[rows["flow_date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["flow_date"] <= pd.Timestamp(end)]
    dates = pd.DatetimeIndex(sorted(rows["flow_date"].unique()), name="date")
    rows = rows[rows["country"] == country]
    rows = rows[
        investor_groups(rows["investor_domicile"], country, offshore, offshore_map) == group
    ]
    if rows.empty:
        return pd.DataFrame(columns=HEDGE_COLUMNS)
    g = rows.groupby(["flow_date", "hedge_status"])
    flows = g["flow_usd"].sum().unstack("hedge_status")
    assets = g["assets_start_usd"].sum(min_count=1).unstack("hedge_status")
    flows = flows.reindex(index=dates, columns=list(HEDGE_STATUSES)).fillna(0.0)
    assets = assets.reindex(index=dates, columns=list(HEDGE_STATUSES))
    day = pd.DataFrame(index=dates)
    for s in HEDGE_STATUSES:
        day[f"{s}_flow_usd"] = flows[s].to_numpy()
    for s in HEDGE_STATUSES:
        day[f"{s}_assets_usd"] = assets[s].to_numpy()
    for s in HEDGE_STATUSES:
        day[f"cum_{s}_flow_usd"] = day[f"{s}_flow_usd"].cumsum()
    day = day.reset_index()
    if freq != "D":
        held = assets.fillna(0.0).sum(axis=1).to_numpy() > 0
        day["period"] = period_end(day["date"], freq).to_numpy()
        # the holdings of each period's first day that has any (of any status)
        first = day[held].groupby("period", sort=False).head(1).set_index("period")
        sums = day.groupby("period", sort=True)
        out = pd.DataFrame(
            {
                **{f"{s}_flow_usd": sums[f"{s}_flow_usd"].sum() for s in HEDGE_STATUSES},
                **{f"cum_{s}_flow_usd": sums[f"cum_{s}_flow_usd"].last() for s in HEDGE_STATUSES},
            }
        )
        for s in HEDGE_STATUSES:
            out[f"{s}_assets_usd"] = first[f"{s}_assets_usd"].reindex(out.index)
        day = out.rename_axis("date").reset_index()
    day["implied_fx_flow_usd"] = day["unhedged_flow_usd"]
    day["cum_implied_fx_flow_usd"] = day["cum_unhedged_flow_usd"]
    h, u, k = (day[f"{s}_assets_usd"].fillna(0.0) for s in HEDGE_STATUSES)
    day["hedge_ratio_pct"] = _pct(h, h + u)
    day["flagged_pct"] = _pct(h + u, h + u + k)
    day.insert(0, "universe", universe)
    day.insert(1, "country", country)
    day.insert(2, "group", group)
    day.insert(3, "freq", freq)
    return day[HEDGE_COLUMNS].reset_index(drop=True)


def hedge_summary(split: pd.DataFrame) -> dict:
    """The window of a hedge_split table in figures: first and last date, the flows summed
    by status, the implied currency flow, and the hedge ratio (and flagged share) of the
    holdings on the first and last period that has any (NaN when none)."""
    if split.empty:
        return {}
    last = split.iloc[-1]
    ratio = split["hedge_ratio_pct"].dropna()
    flagged = split["flagged_pct"].dropna()
    return {
        "start": split["date"].iloc[0],
        "end": last["date"],
        **{s: float(last[f"cum_{s}_flow_usd"]) for s in HEDGE_STATUSES},
        "implied_fx": float(last["cum_implied_fx_flow_usd"]),
        "hedge_ratio_start": float(ratio.iloc[0]) if len(ratio) else np.nan,
        "hedge_ratio_end": float(ratio.iloc[-1]) if len(ratio) else np.nan,
        "flagged_end": float(flagged.iloc[-1]) if len(flagged) else np.nan,
    }


def hedge_text(split: pd.DataFrame) -> str:
    """One line from a hedge_split table, e.g. 'foreign investors into US, 2020-07-01 to
    2020-12-31: +$1.2bn through hedged share classes, -$0.8bn through unhedged ones;
    implied net purchase of US's currency -$0.8bn; hedge ratio of their holdings 40.1% ->
    52.3%'."""
    if split.empty:
        return "no data"
    s = hedge_summary(split)
    who, country = split["group"].iloc[0], split["country"].iloc[0]
    text = (
        f"{who} investors into {country}, {s['start']:%Y-%m-%d} to {s['end']:%Y-%m-%d}: "
        f"{format_usd(s['hedged'])} through hedged share classes, "
        f"{format_usd(s['unhedged'])} through unhedged ones"
    )
    if s["unknown"] != 0 or split["unknown_assets_usd"].notna().any():
        text += f", {format_usd(s['unknown'])} through classes without a hedge flag"
    text += f"; implied net purchase of {country}'s currency {format_usd(s['implied_fx'])}"
    if np.isfinite(s["hedge_ratio_start"]):
        text += (
            f"; hedge ratio of their holdings {s['hedge_ratio_start']:.1f}% -> "
            f"{s['hedge_ratio_end']:.1f}%"
        )
    return text
