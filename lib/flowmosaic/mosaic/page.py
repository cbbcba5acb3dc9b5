"""The mosaic country page: one self-contained HTML file per destination country.

write_country_page(country, universe, icf, cf, external, out_dir, meta) writes
out_dir/mosaic-<CC>.html (inline CSS, PNGs as base64, no scripts, no network) and, next to
it, the CSVs the page shows (mosaic-<CC>-*.csv).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from flowmosaic import htmlkit  # noqa: E402
from flowmosaic.errors import InputError  # noqa: E402
from flowmosaic.htmlkit import (  # noqa: E402
    PALETTE,
    cards,
    document,
    figure,
    kv,
    margins,
    num,
    style_axes,
    table,
)
from flowmosaic.mosaic import analyses as an  # noqa: E402
from flowmosaic.mosaic import external as ex  # noqa: E402

GROUP_COLORS = {"domestic": "#c8553d", "foreign": "#1b6ca8", "offshore": "#2a9d8f"}
HEDGE_COLORS = {"hedged": "#7b3294", "unhedged": "#f2a154", "unknown": "#a3a3a3"}
TOTAL_COLOR = "#111827"
NEG, POS = "#c8553d", "#1b6ca8"
BN = 1e9

EXTRA_CSS = """
.card .v .neg { color:#b42318; }
.answer { font-size:14.5px; margin:4px 0 10px; }
ul.files { margin:6px 0; padding-left:18px; columns:2; font-size:13px; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 4px 0 10px; }
"""


# --- small helpers ------------------------------------------------------------------------------


def _bn(v, digits: int = 1) -> str:
    """US$ as '+$12.3bn' HTML, red when negative."""
    if v is None or not np.isfinite(v):
        return "&ndash;"
    s = f"{'+' if v > 0 else ('-' if v < 0 else '')}${abs(v) / BN:,.{digits}f}bn"
    return f'<span class="neg">{s}</span>' if v < 0 else s


def _round(v, digits: int):
    """v rounded for display (None/NaN kept), so that -0.04 shows as 0.0, not -0.0."""
    if v is None or not np.isfinite(v):
        return v
    r = round(float(v), digits)
    return 0.0 if r == 0 else r


def _fmt(v, digits: int) -> str:
    return num(_round(v, digits), digits)


def _neg(v, digits: int | None = None) -> str:
    if digits is not None:
        v = _round(v, digits)
    return ' class="neg"' if v is not None and np.isfinite(v) and v < 0 else ""


def _date_axis(ax):
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _pick(t: pd.DataFrame, group: str, itype: str = an.ALL) -> pd.DataFrame:
    return t[(t["group"] == group) & (t["investor_type"] == itype)].set_index("date")


def _csv(df: pd.DataFrame, path: Path, index: bool = False) -> Path:
    df.to_csv(path, index=index, float_format="%.10g", date_format="%Y-%m-%d")
    return path


# --- figures ------------------------------------------------------------------------------------


def fig_cumulative(daily: pd.DataFrame, country: str) -> str:
    """Cumulative flows by group ($bn), one panel per investor type."""
    present = [t for t in an.INVESTOR_TYPES if t in set(daily["investor_type"])]
    panels = [an.ALL] + present
    ncol = 2 if len(panels) == 4 else len(panels)
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(11.5, 3.3 * nrow), sharey=True, squeeze=False)
    for i, itype in enumerate(panels):
        ax = axes[i // ncol][i % ncol]
        for g in an.GROUPS:
            s = _pick(daily, g, itype)["cum_flow_usd"]
            if len(s):
                ax.plot(s.index, s / BN, color=GROUP_COLORS[g], lw=1.6, label=g)
        ax.axhline(0, color="#6b7280", lw=0.8)
        ax.set_title(
            "all investors" if itype == an.ALL else f"{itype.lower()} investors",
            fontsize=10.5,
            loc="left",
        )
        style_axes(ax)
        _date_axis(ax)
        if i % ncol == 0:
            ax.set_ylabel("cumulative flow ($bn)", fontsize=9)
    for j in range(len(panels), nrow * ncol):
        axes[j // ncol][j % ncol].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=9.5, frameon=False)
    margins(fig, left=0.06, top=1 - 0.6 / fig.get_figheight(), wspace=0.06, hspace=0.4)
    return figure(
        fig,
        f"Cumulative flows into {country} since the first date, $bn: funds "
        f"domiciled in {country} (domestic), elsewhere (foreign) and in offshore "
        "hubs (offshore).",
    )


def fig_pct(monthly: pd.DataFrame, total: pd.Series | None, country: str) -> str:
    """Monthly flows in % of each group's holdings at the start of the month."""
    fig, ax = plt.subplots(figsize=(11.5, 3.4))
    for g in an.GROUPS:
        s = _pick(monthly, g)["flow_pct"]
        if len(s):
            ax.plot(s.index, s, color=GROUP_COLORS[g], lw=1.5, marker="o", ms=2.8, label=g)
    if total is not None and len(total):
        ax.plot(
            total.index,
            total,
            color=TOTAL_COLOR,
            lw=1.1,
            ls="--",
            label="all funds (country_flows)",
        )
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.set_ylabel("monthly flow (% of holdings)", fontsize=9)
    ax.legend(fontsize=9, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4)
    style_axes(ax)
    _date_axis(ax)
    margins(fig, top=1 - 0.4 / 3.4)
    return figure(
        fig,
        f"Monthly flows into {country} in % of each group's holdings in {country} "
        "on the month's first flow date (all investor types).",
    )


def _heat(
    ax,
    m: pd.DataFrame,
    cmap: str,
    lim: float,
    vmin: float,
    highlight: str,
    fmt: str,
    log: bool = False,
):
    a = m.to_numpy(dtype=float) / BN
    if log:  # holdings span orders of magnitude: colour by log, label in $bn
        norm = LogNorm(vmin=max(vmin, lim / 1000), vmax=lim)
        im = ax.imshow(
            np.ma.masked_less_equal(a, 0),
            aspect="auto",
            cmap=cmap,
            norm=norm,
            interpolation="nearest",
        )
    else:
        im = ax.imshow(a, aspect="auto", cmap=cmap, vmin=vmin, vmax=lim, interpolation="nearest")
    ax.set_xticks(np.arange(m.shape[1]), m.columns, fontsize=9)
    ax.set_yticks(np.arange(m.shape[0]), m.index, fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    for (i, j), v in np.ndenumerate(a):
        if abs(v) >= 0.05:
            strong = v > 0.15 * lim if log else abs(v) > 0.6 * lim
            ax.text(
                j,
                i,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=7.8,
                color="white" if strong else "#1f2933",
            )
    cols, rows = list(m.columns), list(m.index)
    if highlight in cols:
        j = cols.index(highlight)
        ax.add_patch(plt.Rectangle((j - 0.5, -0.5), 1, len(rows), fill=False, ec="#111827", lw=1.6))
    if highlight in rows:
        i = rows.index(highlight)
        ax.add_patch(plt.Rectangle((-0.5, i - 0.5), len(cols), 1, fill=False, ec="#111827", lw=1.6))
    return im


def fig_matrix(flows: pd.DataFrame, holdings: pd.DataFrame, country: str, label: str) -> str:
    """Domicile x destination heatmaps: flows over the range and holdings at its end, $bn."""
    n = flows.shape[0]
    h = 0.32 * n + 1.3
    fig, axes = plt.subplots(1, 2, figsize=(11.5, h))
    lim = float(np.nanmax(np.abs(flows.to_numpy()))) / BN if flows.size else 1.0
    im = _heat(axes[0], flows, "RdBu", lim or 1.0, -(lim or 1.0), country, ".1f")
    axes[0].set_title(f"flows {label}, $bn", fontsize=10.5, loc="left", pad=22)
    cb = fig.colorbar(im, ax=axes[0], fraction=0.04, pad=0.02)
    cb.ax.tick_params(labelsize=8)
    hl = float(np.nanmax(holdings.to_numpy())) / BN if holdings.size else 1.0
    im = _heat(axes[1], holdings, "Blues", hl or 1.0, 0.0, country, ".0f", log=True)
    axes[1].set_title(
        f"holdings at {label.split(' to ')[-1]}, $bn", fontsize=10.5, loc="left", pad=22
    )
    cb = fig.colorbar(im, ax=axes[1], fraction=0.04, pad=0.02)
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    cb.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    cb.ax.tick_params(labelsize=8)
    fig.subplots_adjust(left=0.07, right=0.955, top=1 - 0.75 / h, bottom=0.12 / h, wspace=0.3)
    return figure(
        fig,
        f"Rows: fund domicile (offshore hubs grouped); columns: destination "
        f"country; {country} outlined. Flows: blue = inflows, red = outflows. "
        "Holdings: colour on a log scale. The largest domiciles and destinations "
        "by holdings.",
    )


def fig_home_bias(hb: pd.DataFrame, country: str, domiciles: list[str]) -> str:
    """Home share of the country's own funds, and the country's share of other domiciles'
    foreign portfolios, monthly (%)."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.6))
    home = hb[hb["domicile"] == country].set_index("month")
    ax = axes[0]
    if len(home):
        ax.plot(home.index, home["home_share_pct"], color=GROUP_COLORS["domestic"], lw=1.8)
    else:
        ax.text(
            0.5,
            0.5,
            f"no funds domiciled in {country} in this universe",
            ha="center",
            va="center",
            color="#6b7280",
            fontsize=10,
            transform=ax.transAxes,
        )
    ax.set_title(
        f"{country}-domiciled funds: share held in {country} (%)", fontsize=10.5, loc="left"
    )
    ax = axes[1]
    for i, d in enumerate(domiciles):
        s = hb[hb["domicile"] == d].set_index("month")
        col = (
            "destination_share_of_total_pct"
            if s["offshore"].any()
            else "destination_share_of_foreign_pct"
        )
        ax.plot(
            s.index,
            s[col],
            lw=1.5,
            color=PALETTE[[0, 3, 5, 6, 1, 4, 2][i % 7]],
            ls="--" if col.endswith("total_pct") else "-",
            label=d,
        )
    ax.set_title(f"{country}'s share of foreign portfolios (%)", fontsize=10.5, loc="left")
    if domiciles:
        ax.legend(
            fontsize=8.5,
            frameon=False,
            ncol=len(domiciles),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
        )
    for ax in axes:
        style_axes(ax)
    _date_axis(axes[1])
    if home.empty:
        axes[0].set_xticks([])
        axes[0].set_yticks([])
    else:
        _date_axis(axes[0])
    margins(fig, left=0.05, top=0.9, bottom=0.8 / 3.6, wspace=0.15)
    return figure(
        fig,
        f"Month-end holdings. Right: {country} as a share of each domicile's "
        "holdings outside its home (dashed for offshore hubs, which have no home: "
        "share of all their holdings).",
    )


def fig_persistence(p: pd.DataFrame, title: str) -> str:
    """Weekly flows ($bn), their z-score against the trailing window, and the streak."""
    fig, axes = plt.subplots(
        3, 1, figsize=(11.5, 6.4), sharex=True, gridspec_kw={"height_ratios": [1.3, 1, 0.8]}
    )
    d = pd.to_datetime(p["date"])
    f = p["flow"].to_numpy() / BN
    axes[0].bar(d, f, width=5, color=np.where(f < 0, NEG, POS))
    axes[0].set_ylabel("weekly flow ($bn)", fontsize=9)
    axes[0].set_title(title, fontsize=10.5, loc="left")
    z = p["zscore"].to_numpy()
    axes[1].axhspan(-2, 2, color="#f1f3f6", lw=0)
    axes[1].plot(d, z, color=TOTAL_COLOR, lw=1.1)
    axes[1].axhline(0, color="#6b7280", lw=0.8)
    axes[1].set_ylabel("z-score", fontsize=9)
    st = p["streak"].to_numpy()
    axes[2].bar(d, st, width=5, color=np.where(st < 0, NEG, POS))
    axes[2].axhline(0, color="#6b7280", lw=0.8)
    axes[2].set_ylabel("streak (weeks)", fontsize=9)
    for ax in axes:
        style_axes(ax)
    _date_axis(axes[2])
    margins(fig, left=0.07, top=0.95, hspace=0.12)
    return figure(
        fig,
        "Top: weekly flow (weeks ending Friday). Middle: z-score against the "
        "previous weeks (shaded: within two standard deviations). Bottom: "
        "consecutive weeks of the same sign (negative = selling).",
    )


def fig_hedge(split: pd.DataFrame, country: str) -> str:
    """Foreign flows into the country through hedged, unhedged and unknown share classes,
    cumulative ($bn), and the hedge ratio of the foreign holdings (%)."""
    fig, axes = plt.subplots(
        1, 2, figsize=(11.5, 3.5), gridspec_kw={"width_ratios": [1.6, 1]}, squeeze=False
    )
    ax = axes[0][0]
    d = pd.to_datetime(split["date"])
    labels = {
        "hedged": "hedged classes",
        "unhedged": f"unhedged classes = implied purchase of {country}'s currency",
        "unknown": "classes without a hedge flag",
    }
    for status in an.HEDGE_STATUSES:
        cum = split[f"cum_{status}_flow_usd"]
        if status == "unknown" and not (
            cum.abs().gt(0).any() or split["unknown_assets_usd"].notna().any()
        ):
            continue
        ax.plot(
            d,
            cum / BN,
            color=HEDGE_COLORS[status],
            lw=1.4 if status == "unknown" else 1.8,
            ls="--" if status == "unknown" else "-",
            label=labels[status],
        )
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.set_ylabel("cumulative flow ($bn)", fontsize=9)
    ax.set_title(f"foreign flows into {country} by hedge status", fontsize=10.5, loc="left")
    ax.legend(fontsize=8.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax = axes[0][1]
    ax.plot(d, split["hedge_ratio_pct"], color=HEDGE_COLORS["hedged"], lw=1.6)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("hedged / flagged holdings (%)", fontsize=9)
    ax.set_title("hedge ratio of foreign holdings", fontsize=10.5, loc="left")
    for a in axes[0]:
        style_axes(a)
        _date_axis(a)
    margins(fig, left=0.06, top=0.9, bottom=1.0 / 3.5, wspace=0.22)
    return figure(
        fig,
        f"Left: flows into {country} by funds domiciled outside {country} (not offshore "
        "hubs), summed from the first date, by their share classes' hedge flag. Right: the "
        "hedged share of those funds' holdings in the classes that carry a flag.",
    )


def fig_external(
    flows: dict[str, pd.Series], ext: pd.DataFrame, summary: pd.DataFrame, country: str
) -> str:
    """One panel per external series: non-resident fund flows ($bn per period, bars, left)
    and the series in its own unit (line, right), on a common time axis."""
    keys = list(summary["series"])
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(11.5, 2.6 * len(keys)), sharex=True, squeeze=False
    )
    for ax, (_, row) in zip(axes[:, 0], summary.iterrows()):
        f = flows[row["freq"]]
        width = 5 if row["freq"] == "W" else 24
        ax.bar(f.index, f / BN, width=width, color=np.where(f < 0, "#e8b4a8", "#b9d3ea"))
        ax.set_ylabel(
            f"fund flows ($bn / {'week' if row['freq'] == 'W' else 'month'})", fontsize=8.5
        )
        s = ext[ext["series"] == row["series"]].set_index("date")["value"]
        ax2 = ax.twinx()
        ax2.plot(s.index, s, color=PALETTE[5], lw=1.5, marker="o" if len(s) < 80 else None, ms=2.5)
        if row["rule"] == "sum" and len(s) and len(f):  # two flows: put both zeros level
            a, b = np.nanmax(np.abs(f.to_numpy())) / BN, np.nanmax(np.abs(s.to_numpy()))
            ax.set_ylim(-1.08 * a, 1.08 * a)
            ax2.set_ylim(-1.08 * b, 1.08 * b)
        ax2.set_ylabel(row["unit"], fontsize=8.5, color=PALETTE[5])
        ax2.tick_params(labelsize=8.5, colors=PALETTE[5])
        for side in ("top", "left", "bottom"):
            ax2.spines[side].set_visible(False)
        lag = (
            ""
            if pd.isna(row["best_lag"])
            else f"; best lag {int(row['best_lag']):+d}: r = {row['best_corr']:+.2f}"
        )
        per = "week" if row["freq"] == "W" else "month"
        ax.set_title(
            f"{row['series']} ({row['rule']} per {per}): r = {row['corr_lag0']:+.2f} "
            f"at lag 0, n = {row['n']}{lag}",
            fontsize=10,
            loc="left",
        )
        style_axes(ax)
        ax.spines["right"].set_visible(True)
        ax.spines["right"].set_color("#9ca3af")
    _date_axis(axes[-1][0])
    margins(fig, left=0.07, right=0.93, top=1 - 0.35 / fig.get_figheight(), hspace=0.45)
    return figure(
        fig,
        f"Bars: flows into {country} by non-resident funds (foreign + offshore), "
        "summed per period. Line: the external series, right axis, in its unit.",
    )


def fig_lead_lag(ll: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(11.5, 3.2))
    for i, ((series, freq), sub) in enumerate(ll.groupby(["series", "freq"], sort=True)):
        ax.plot(
            sub["lag"],
            sub["corr"],
            marker="o",
            ms=3.5,
            lw=1.4,
            color=PALETTE[[5, 0, 3, 6, 4, 1][i % 6]],
            label=f"{series} ({'weeks' if freq == 'W' else 'months'})",
        )
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.axvline(0, color="#9ca3af", lw=0.8, ls=":")
    ax.set_xlabel(
        "lag k (periods): fund flow at t vs external at t + k; k > 0: fund flows lead", fontsize=9
    )
    ax.set_ylabel("correlation", fontsize=9)
    ax.legend(fontsize=8.5, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3)
    style_axes(ax)
    margins(fig, bottom=0.6 / 3.2, top=1 - 0.45 / 3.2)
    return figure(
        fig,
        "Correlation of non-resident fund flows with each external series shifted "
        "by k periods (weeks or months, as in the panels above).",
    )


# --- tables -------------------------------------------------------------------------------------


def _year_table(daily: pd.DataFrame) -> str:
    t = daily.assign(year=daily["date"].dt.year)
    sums = t.groupby(["group", "investor_type", "year"])["flow_usd"].sum()
    years = sorted(t["year"].unique())
    rows, classes = [], []
    types = [an.ALL] + [x for x in an.INVESTOR_TYPES if x in set(t["investor_type"])]
    for g in an.GROUPS:
        for itype in types:
            if (g, itype) not in sums.index.droplevel("year"):
                continue
            vals = [sums.get((g, itype, y), 0.0) for y in years]
            label = f'<span class="swatch" style="background:{GROUP_COLORS[g]}"></span>{g}'
            rows.append(
                [label, "all" if itype == an.ALL else itype.lower()]
                + [_fmt(v / BN, 1) for v in vals]
            )
            classes.append([' class="lbl"', ""] + [_neg(v / BN, 1) for v in vals])
    return table(["group", "investors"] + [f"{y} ($bn)" for y in years], rows, classes)


def _home_table(hb: pd.DataFrame, country: str, top: int) -> str:
    last = hb[hb["month"] == hb["month"].max()].sort_values("holdings_usd", ascending=False)
    last = last.head(top)
    rows, classes = [], []
    for r in last.itertuples(index=False):
        rows.append(
            [
                html.escape(str(r.domicile)) + (" (offshore)" if r.offshore else ""),
                _fmt(r.holdings_usd / BN, 1),
                _fmt(r.home_share_pct, 1),
                _fmt(r.foreign_share_pct, 1),
                _fmt(r.destination_share_of_foreign_pct, 1),
                _fmt(r.destination_share_of_total_pct, 1),
            ]
        )
        classes.append([' class="lbl"'] + [""] * 5)
    return table(
        [
            "fund domicile",
            "holdings ($bn)",
            "home (%)",
            "foreign (%)",
            f"{country} in foreign (%)",
            f"{country} in total (%)",
        ],
        rows,
        classes,
    )


def _hedge_table(monthly: pd.DataFrame) -> str:
    rows, classes = [], []
    for r in monthly.itertuples(index=False):
        vals = [r.hedged_flow_usd, r.unhedged_flow_usd, r.unknown_flow_usd, r.implied_fx_flow_usd]
        rows.append(
            [f"{r.date:%Y-%m}"]
            + [_fmt(v / BN, 2) for v in vals]
            + [_fmt(r.hedge_ratio_pct, 1), _fmt(r.flagged_pct, 1)]
        )
        classes.append([' class="lbl"'] + [_neg(v / BN, 2) for v in vals] + ["", ""])
    return table(
        [
            "month",
            "hedged ($bn)",
            "unhedged ($bn)",
            "no flag ($bn)",
            "implied currency purchase ($bn)",
            "hedge ratio (%)",
            "flagged (%)",
        ],
        rows,
        classes,
    )


def _hedge_section(
    hedge: pd.DataFrame | None,
    country: str,
    universe: str,
    kw: Mapping,
    out: Path,
    stem: str,
    files: dict[str, Path],
) -> str:
    """The hedge panel's HTML (CSVs added to `files`), or a note saying why there is none."""
    esc = html.escape(country)
    if hedge is None or not (hedge["universe"] == universe).any():
        return (
            '<p class="note">The hedge split was not computed for this universe '
            "(gold investor_hedge_flows: <code>flowmosaic mosaic-flows</code> writes it "
            "unless run with <code>--no-hedge</code>).</p>"
        )
    if not an.hedge_flags_delivered(hedge, universe):
        return (
            '<p class="note">No share class of this universe carries a hedge flag (the '
            "share-class file has no <code>Hedged</code> column, or leaves it blank): flows "
            "through hedged and unhedged classes cannot be told apart.</p>"
        )
    daily = an.hedge_split(hedge, country, universe, "D", **kw)
    if daily.empty:
        return f'<p class="note">No foreign fund of this universe invests in {esc}.</p>'
    if daily["hedged_assets_usd"].isna().all() and daily["unhedged_assets_usd"].isna().all():
        return (
            f'<p class="note">None of the foreign share classes investing in {esc} carries a '
            "hedge flag.</p>"
        )
    monthly = an.hedge_split(hedge, country, universe, "M", **kw)
    files["hedge-daily"] = _csv(daily, out / f"{stem}-hedge-daily.csv")
    files["hedge-monthly"] = _csv(monthly, out / f"{stem}-hedge-monthly.csv")
    return (
        f'<p class="answer">{html.escape(an.hedge_text(daily))}</p>'
        f'<div class="panel">{fig_hedge(daily, country)}</div>'
        f'<div class="panel"><h3>By month</h3>{_hedge_table(monthly)}'
        '<p class="note">A foreign investor who buys through an unhedged share class buys '
        f"{esc}'s currency with the assets; one who buys through a hedged class sells it "
        "forward again, so only the unhedged flow implies a currency flow. It is inferred "
        "from the flags, not observed; classes without a flag are left out of it. Hedge "
        "ratio: hedged / (hedged + unhedged) holdings on the month's first day with any; "
        "flagged: the share of the holdings in classes with a flag.</p></div>"
    )


def _runs_table(p: pd.DataFrame, n: int = 6) -> str:
    runs = an.streak_runs(p)
    sell = (
        runs[runs["direction"] == "selling"]
        .sort_values(["periods", "end"], ascending=[False, False])
        .head(n)
    )
    rows, classes = [], []
    for r in sell.itertuples(index=False):
        rows.append(
            [
                f"{r.start:%Y-%m-%d}",
                f"{r.end:%Y-%m-%d}" + (" (ongoing)" if r.ongoing else ""),
                str(r.periods),
                _fmt(r.flow / BN, 1),
                _fmt(r.mean_z, 2),
                _fmt(r.extreme_z, 2),
            ]
        )
        classes.append(
            [' class="lbl"', "", "", _neg(r.flow / BN, 1), _neg(r.mean_z, 2), _neg(r.extreme_z, 2)]
        )
    return table(
        ["first week", "last week", "weeks", "flow ($bn)", "mean z", "lowest z"], rows, classes
    )


def _years_table(p: pd.DataFrame) -> str:
    y = an.persistence_by_year(p)
    rows, classes = [], []
    for r in y.itertuples(index=False):
        rows.append(
            [
                str(r.year),
                str(r.periods),
                str(r.selling_periods),
                str(r.longest_selling_run),
                str(r.longest_buying_run),
                _fmt(r.flow / BN, 1),
                _fmt(r.min_z, 2),
                _fmt(r.max_z, 2),
            ]
        )
        classes.append(
            [
                ' class="lbl"',
                "",
                "",
                "",
                "",
                _neg(r.flow / BN, 1),
                _neg(r.min_z, 2),
                _neg(r.max_z, 2),
            ]
        )
    return table(
        [
            "year",
            "weeks",
            "selling weeks",
            "longest selling run (weeks)",
            "longest buying run (weeks)",
            "flow ($bn)",
            "lowest z",
            "highest z",
        ],
        rows,
        classes,
    )


def _external_table(summary: pd.DataFrame) -> str:
    rows, classes = [], []
    for r in summary.itertuples(index=False):
        lag = "&ndash;" if pd.isna(r.best_lag) else f"{int(r.best_lag):+d}"
        rows.append(
            [
                html.escape(str(r.series)),
                html.escape(str(r.unit)),
                r.rule,
                "week" if r.freq == "W" else "month",
                f"{r.overlap_start:%Y-%m-%d} to {r.overlap_end:%Y-%m-%d}",
                str(r.n),
                _fmt(r.corr_lag0, 2),
                lag,
                _fmt(r.best_corr, 2),
                str(r.best_n),
            ]
        )
        classes.append(
            [' class="lbl"'] + [""] * 5 + [_neg(r.corr_lag0, 2), "", _neg(r.best_corr, 2), ""]
        )
    return table(
        [
            "series",
            "unit",
            "rule",
            "period",
            "overlap",
            "n",
            "r (lag 0)",
            "best lag",
            "r (best)",
            "n (best)",
        ],
        rows,
        classes,
    )


# --- the page -----------------------------------------------------------------------------------


def write_country_page(
    country: str,
    universe: str,
    icf: pd.DataFrame,
    cf: pd.DataFrame | None,
    external: pd.DataFrame | None,
    out_dir: str | Path,
    meta: Mapping | None = None,
    *,
    offshore: Iterable[str] = an.OFFSHORE_DOMICILES,
    offshore_map: Mapping[str, str] | None = None,
    start=None,
    end=None,
    window: int = 52,
    min_periods: int = 26,
    max_lag: int = 8,
    rules: Mapping[str, str] | None = None,
    top: int = 12,
    hedge: pd.DataFrame | None = None,
) -> Path:
    """Write out_dir/mosaic-<country>.html and its CSVs; return the page's path.

    icf: investor_country_flows rows; cf: country_flows rows (optional: the all-funds line
    and a reconciliation); external: long external series (optional: the rows for `country`
    are shown, aggregated per `rules`, see external.py); hedge: investor_hedge_flows rows
    (optional: the foreign flows by hedge status; without them the panel says so). meta: shown
    on the page;
    meta['synthetic'] true adds a visible note, meta['title'] replaces the title. The other
    options are those of the analyses. Flows are in US$, shown in $bn.
    """
    meta = dict(meta or {})
    offshore = tuple(offshore)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"mosaic-{country}"
    kw = dict(start=start, end=end, offshore=offshore, offshore_map=offshore_map)
    daily = an.domestic_foreign_flows(icf, country, universe, "D", **kw)
    if daily.empty:
        raise InputError(
            f"investor_country_flows has no rows into {country} for universe {universe!r}"
        )
    weekly = an.domestic_foreign_flows(icf, country, universe, "W", **kw)
    monthly = an.domestic_foreign_flows(icf, country, universe, "M", **kw)
    first, last = daily["date"].min(), daily["date"].max()
    files: dict[str, Path] = {}
    for name, t in (("flows-daily", daily), ("flows-weekly", weekly), ("flows-monthly", monthly)):
        files[name] = _csv(t, out / f"{stem}-{name}.csv")

    # all funds from country_flows, and how well the groups add up to it
    total_pct, recon = None, None
    if cf is not None and len(cf):
        c = cf[(cf["universe"] == universe) & (cf["country"] == country)]
        c = c.assign(flow_date=pd.to_datetime(c["flow_date"]))
        c = c[(c["flow_date"] >= first) & (c["flow_date"] <= last)].sort_values("flow_date")
        if len(c):
            m = c.assign(date=an.period_end(c["flow_date"], "M").to_numpy()).groupby("date")
            total_pct = (
                100 * m["flow_usd"].sum() / m["assets_start_usd"].first().where(lambda a: a > 0)
            )
            mine = daily[daily["investor_type"] == an.ALL].groupby("date")["flow_usd"].sum()
            theirs = c.set_index("flow_date")["flow_usd"]
            recon = float((mine.reindex(theirs.index).fillna(0) - theirs.fillna(0)).abs().max())

    # matrix over the last 12 months of data
    m_start = max(first, last - pd.DateOffset(years=1) + pd.Timedelta(days=1))
    mflows = an.domicile_matrix(
        icf, universe, m_start, last, offshore=offshore, offshore_map=offshore_map
    )
    mhold = an.domicile_matrix(
        icf,
        universe,
        m_start,
        last,
        value="holdings_usd",
        offshore=offshore,
        offshore_map=offshore_map,
    )
    rows_ = list(mhold.sum(axis=1).sort_values(ascending=False).index[:top])
    cols_ = list(mhold.sum(axis=0).sort_values(ascending=False).index[:top])
    if country in mhold.index and country not in rows_:
        rows_.append(country)
    if country in mhold.columns and country not in cols_:
        cols_.append(country)
    mflows_top = mflows.reindex(index=rows_, columns=cols_, fill_value=0.0)
    mhold_top = mhold.reindex(index=rows_, columns=cols_, fill_value=0.0)
    files["matrix-flows"] = _csv(mflows, out / f"{stem}-matrix-flows.csv", index=True)
    files["matrix-holdings"] = _csv(mhold, out / f"{stem}-matrix-holdings.csv", index=True)
    m_label = f"{m_start:%Y-%m-%d} to {last:%Y-%m-%d}"

    # home bias, with this country as the destination
    hb = an.home_bias(icf, universe, country, offshore=offshore, start=start, end=end)
    files["home-bias"] = _csv(hb, out / f"{stem}-home-bias.csv")
    latest = hb[hb["month"] == hb["month"].max()].sort_values("holdings_usd", ascending=False)
    others = [d for d in latest["domicile"] if d != country][:5]

    # persistence of every group; the page shows the foreign buyers
    pers = an.flow_persistence(weekly, window, min_periods)
    files["persistence"] = _csv(pers, out / f"{stem}-persistence.csv")
    present = list(dict.fromkeys(pers["group"]))
    p_group = "foreign" if "foreign" in present else present[0]
    pf = pers[(pers["group"] == p_group) & (pers["investor_type"] == an.ALL)].reset_index(drop=True)
    p_text = an.persistence_summary(pf)
    p_title = f"{p_group} investors, all types: flows into {country}"

    # foreign flows through hedged and unhedged share classes
    hedge_html = _hedge_section(hedge, country, universe, kw, out, stem, files)

    # external series for this country
    ext_html = '<p class="note">No external series for this country.</p>'
    if external is not None:
        an.require_columns(external, ex.EXTERNAL_COLUMNS, "external series")
    if external is not None and (external["country"] == country).any():
        ext_c = external[external["country"] == country]
        nonres = daily[(daily["group"] != "domestic") & (daily["investor_type"] == an.ALL)]
        nonres = nonres.groupby("date")["flow_usd"].sum()
        summaries, lls, aligned, aggs = [], [], [], []
        for freq in ("W", "M"):
            sub = ext_c[ext_c["frequency"].map(ex.comparison_freq) == freq]
            if sub.empty:
                continue
            summaries.append(
                ex.correlation_summary(nonres, sub, freq, max_lag=max_lag, rules=rules)
            )
            lls.append(
                ex.lead_lag(nonres, sub, freq, max_lag=max_lag, rules=rules).assign(freq=freq)
            )
            aligned.append(ex.align_external(nonres, sub, freq, rules=rules).assign(freq=freq))
            aggs.append(ex.aggregate_external(sub, freq, rules=rules))
        summary = pd.concat(summaries, ignore_index=True)
        ll = pd.concat(lls, ignore_index=True)
        # a series without a single period in common with the fund flows has no row
        missing = sorted(set(ext_c["series"]) - set(summary["series"]))
        agg = pd.concat(aggs, ignore_index=True)
        agg = agg[(agg["date"] >= first) & (agg["date"] <= an.period_end([last], "M").iloc[0])]
        files["external-aligned"] = _csv(
            pd.concat(aligned, ignore_index=True), out / f"{stem}-external-aligned.csv"
        )
        files["external-leadlag"] = _csv(ll, out / f"{stem}-external-leadlag.csv")
        files["external-summary"] = _csv(summary, out / f"{stem}-external-summary.csv")
        fl = {f: ex.flow_periods(nonres, f) for f in ("W", "M")}
        no_overlap = (
            ""
            if not missing
            else '<p class="note">No period in common with the fund flows: '
            f"{html.escape(', '.join(missing))}.</p>"
        )
        ext_html = no_overlap
        if not summary.empty:
            ext_html = (
                f'<div class="panel">{fig_external(fl, agg, summary, country)}</div>'
                f'<div class="panel">{_external_table(summary)}</div>'
                f'<div class="panel">{fig_lead_lag(ll)}</div>{no_overlap}'
                '<p class="note">Daily and weekly series are compared per week, monthly '
                "and quarterly ones per month. Rule: <code>sum</code> for flows, "
                "<code>last</code> (the period's last value) for levels, "
                "<code>change</code> for a level's change from the previous period. "
                "r: Pearson correlation over the periods where both have a value.</p>"
            )

    # header numbers
    def ytd(g, itype=an.ALL):
        s = _pick(daily, g, itype)["ytd_flow_usd"]
        return float(s.iloc[-1]) if len(s) else np.nan

    lastp = pf.iloc[-1] if len(pf) else None
    streak = int(lastp["streak"]) if lastp is not None else 0
    year = f"{last:%Y}"
    card_items = [
        ("Foreign YTD", _bn(ytd("foreign")), f"funds domiciled outside {country}, {year}"),
        ("Offshore YTD", _bn(ytd("offshore")), f"funds in offshore hubs, {year}"),
        (
            "Domestic retail YTD",
            _bn(ytd("domestic", "Retail")),
            f"retail share classes of {country} funds",
        ),
        (
            "Domestic institutional YTD",
            _bn(ytd("domestic", "Institutional")),
            f"institutional share classes of {country} funds",
        ),
        (
            f"{p_group.capitalize()}, latest week",
            (_fmt(lastp["zscore"], 1) + " z")
            if lastp is not None and np.isfinite(lastp["zscore"])
            else "&ndash;",
            f"{an.format_usd(lastp['flow'])} in the week to {pd.Timestamp(lastp['date']):%Y-%m-%d}"
            if lastp is not None
            else "",
        ),
        (
            f"Current {p_group} streak",
            (f'<span class="neg">{streak:+d} wk</span>' if streak < 0 else f"{streak:+d} wk"),
            "weeks of selling in a row" if streak < 0 else "weeks of buying in a row",
        ),
    ]
    summaries_txt = [
        an.flow_summary(daily, g, t)
        for g, t in (
            ("foreign", an.ALL),
            ("offshore", an.ALL),
            ("domestic", "Retail"),
            ("domestic", "Institutional"),
        )
        if not _pick(daily, g, t).empty
    ]

    title = meta.get("title") or f"Mosaic: who moves money into {country}"
    banner = htmlkit.synthetic_banner(meta)
    params = [
        ("universe", universe),
        ("destination country", country),
        ("offshore domiciles", ", ".join(offshore) or "none"),
        (
            "offshore relabelled",
            ", ".join(f"{k} -> {v}" for k, v in (offshore_map or {}).items()) or "no",
        ),
        ("z-score window", f"{window} weeks (at least {min_periods}), current week excluded"),
        ("lead/lag", f"-{max_lag} to +{max_lag} periods"),
        ("matrix range", m_label),
    ]
    if recon is not None:
        params.append(("groups vs country_flows", f"largest daily difference ${recon:,.0f}"))
    source = [(k, v) for k, v in meta.items() if k not in ("title",) and v not in (None, "")]
    file_list = "".join(
        f'<li><a href="{p.name}"><code>{html.escape(p.name)}</code></a></li>'
        for p in files.values()
    )
    sub = (
        f"{html.escape(universe)} &middot; flows into {html.escape(country)} &middot; "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d} &middot; US$ in $bn"
    )

    body = f"""
<header>
  <h1>{html.escape(str(title))}</h1>
  <p class="sub">{sub}</p>
</header>
{banner}
<div class="cards">{cards(card_items)}</div>
<p class="note">{"<br>".join(html.escape(s) for s in summaries_txt)}</p>

<h2>Domestic, foreign and offshore flows</h2>
<div class="panel">{fig_cumulative(daily, country)}</div>
<div class="panel"><h3>Flows by calendar year</h3>{_year_table(daily)}</div>

<h2>Flows in % of holdings</h2>
<div class="panel">{fig_pct(monthly, total_pct, country)}</div>

<h2>Who holds what: domicile x destination</h2>
<div class="panel">{fig_matrix(mflows_top, mhold_top, country, m_label)}</div>

<h2>Home bias <span class="note">(month-end holdings)</span></h2>
<div class="panel">{fig_home_bias(hb, country, others)}</div>
<div class="panel"><h3>{hb["month"].max():%B %Y}, largest fund domiciles</h3>
{_home_table(hb, country, top)}
<p class="note">Home: held in the domicile's own country. Offshore hubs have no home (&ndash;);
for them the {html.escape(country)} share is of all their holdings.</p></div>

<h2>Persistence of {html.escape(p_group)} flows</h2>
<p class="answer">{html.escape(p_text)}</p>
<div class="panel">{fig_persistence(pf, p_title)}</div>
<div class="panel"><h3>By year</h3>{_years_table(pf)}
<p class="note">Runs counted within the calendar year; z: the week's flow against the previous
{window} weeks.</p></div>
<div class="panel"><h3>Longest selling runs</h3>{_runs_table(pf)}</div>

<h2>Hedged and unhedged foreign flows</h2>
{hedge_html}

<h2>Other sources of the mosaic</h2>
{ext_html}

<h2>Parameters and data</h2>
<div class="grid2">
<div class="panel"><h3>Parameters</h3>{kv(params)}</div>
<div class="panel"><h3>Source</h3>{kv(source) if source else '<p class="note">none given</p>'}
<h3>CSV files</h3><ul class="files">{file_list}</ul></div>
</div>
<footer>Domestic: funds domiciled in {html.escape(country)}; foreign: funds domiciled elsewhere;
offshore: funds domiciled in the hubs listed above, whose investors may live anywhere. Flows
are US$ weighted by the funds' country allocations. Definitions: docs/mosaic.md.
Generated by flowmosaic.</footer>
"""
    path = out / f"{stem}.html"
    path.write_text(document(str(title), body, EXTRA_CSS), encoding="utf-8")
    return path
