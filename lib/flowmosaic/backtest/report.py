"""One self-contained report.html: inline CSS, matplotlib PNGs as base64, no scripts.

write_report(result, factor_result, path, meta) -> path
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from flowmosaic import htmlkit  # noqa: E402
from flowmosaic.backtest import stats  # noqa: E402
from flowmosaic.htmlkit import PALETTE, document  # noqa: E402
from flowmosaic.htmlkit import cards as _cards  # noqa: E402
from flowmosaic.htmlkit import figure as _figure  # noqa: E402
from flowmosaic.htmlkit import kv as _kv  # noqa: E402
from flowmosaic.htmlkit import margins as _margins  # noqa: E402
from flowmosaic.htmlkit import num as _num  # noqa: E402
from flowmosaic.htmlkit import style_axes as _style  # noqa: E402
from flowmosaic.htmlkit import table as _table  # noqa: E402

TXB_COLOR = "#111827"


# --- formatting --------------------------------------------------------------------------------


def _date(v) -> str:
    if v is None or not np.isfinite(v):
        return "&ndash;"
    s = f"{int(v):08d}"
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"


STAT_FMT = {"Sharpe": 1, "HitRate": 1, "Beta": 2, "DDnN": 1, "AnnTo": 0, "TStat": 2}


def _stat_cell(stat: str, v) -> str:
    if stat == "DDnBeg":
        return _date(v)
    if stat == "DDnN" and v is not None and np.isfinite(v) and float(v).is_integer():
        return _num(v, 0)
    return _num(v, STAT_FMT.get(stat))


def _cls(col: str, v=None) -> str:
    c = []
    if col == "TxB":
        c.append("txb")
    if v is not None and isinstance(v, (int, float)) and np.isfinite(v) and v < 0:
        c.append("neg")
    return f' class="{" ".join(c)}"' if c else ""


# --- figures -------------------------------------------------------------------------------------


def fig_cumulative(cum: pd.DataFrame, n_bins: int, unit: str) -> str:
    fig, ax = plt.subplots(figsize=(11.5, 4.0))
    for q in range(1, n_bins + 1):
        ax.plot(
            cum.index, cum[f"Q{q}"], color=PALETTE[(q - 1) % len(PALETTE)], lw=1.3, label=f"Q{q}"
        )
    ax.plot(cum.index, cum["TxB"], color=TXB_COLOR, lw=2.0, label=f"TxB (Q1 - Q{n_bins})")
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.set_ylabel(f"cumulative excess return ({unit})", fontsize=9)
    ax.legend(ncol=n_bins + 1, fontsize=8.5, frameon=False, loc="upper left")
    _style(ax)
    _margins(fig, top=0.97)
    return _figure(
        fig,
        "Cumulative bin returns in excess of the equal-weight universe "
        "(running sum of the first horizon's returns; missing = 0).",
    )


def fig_drawdown(txb: pd.Series, unit: str) -> str:
    cs = txb.fillna(0.0).cumsum()
    dd = cs - np.maximum.accumulate(np.r_[0.0, cs.to_numpy()])[1:]
    fig, ax = plt.subplots(figsize=(11.5, 2.6))
    ax.fill_between(dd.index, dd.to_numpy(), 0, color="#c8553d", alpha=0.35, lw=0)
    ax.plot(dd.index, dd.to_numpy(), color="#c8553d", lw=1.0)
    ax.set_ylabel(f"drawdown ({unit})", fontsize=9)
    _style(ax)
    _margins(fig, top=0.96)
    return _figure(fig, "TxB drawdown: running sum of TxB returns minus its running maximum.")


def fig_ic(ic: pd.DataFrame, horizons: tuple[int, ...], window: int) -> str:
    fig, ax = plt.subplots(figsize=(11.5, 3.3))
    first = horizons[0]
    ax.vlines(
        ic.index,
        0,
        np.nan_to_num(ic[first].to_numpy()),
        color="#cbd5e1",
        lw=1.2,
        label=f"IC h={first}",
    )
    show = [h for h in horizons if h in (first, 20, 65)][:3]
    for i, h in enumerate(show):
        roll = ic[h].rolling(window, min_periods=max(4, window // 2)).mean()
        ax.plot(
            ic.index,
            roll,
            lw=1.6,
            color=PALETTE[[0, 4, 5][i]],
            label=f"h={h}: {window}-period rolling mean",
        )
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.set_ylabel("Spearman rank IC", fontsize=9)
    ax.legend(ncol=4, fontsize=8.5, frameon=False, loc="upper left")
    _style(ax)
    _margins(fig, top=0.97)
    return _figure(
        fig,
        "Per-date rank IC between the signal and forward returns (bars: first "
        "horizon) with rolling means.",
    )


def fig_turnover(to: pd.DataFrame, window: int) -> str:
    fig, ax = plt.subplots(figsize=(11.5, 2.8))
    for i, c in enumerate(to.columns):
        ax.plot(
            to.index,
            to[c].rolling(window, min_periods=1).mean(),
            lw=1.4,
            color=[PALETTE[0], PALETTE[4]][i % 2],
            label=f"{c}",
        )
    ax.set_ylabel("turnover per rebalance (%)", fontsize=9)
    ax.legend(fontsize=8.5, frameon=False, loc="upper left", ncol=2)
    _style(ax)
    _margins(fig, top=0.96)
    return _figure(
        fig,
        f"Bin turnover per rebalance, {window}-period rolling mean: "
        "100 - 100 x kept / max(old size, new size).",
    )


def fig_quantiles(qm: pd.DataFrame, horizons: tuple[int, ...], n_bins: int, unit: str) -> str:
    cols = [f"Q{q}" for q in range(1, n_bins + 1)] + ["TxB"]
    ncol = min(3, len(horizons))
    nrow = math.ceil(len(horizons) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(11.5, 2.7 * nrow), squeeze=False)
    for i, h in enumerate(horizons):
        ax = axes[i // ncol][i % ncol]
        d = qm[(qm.period == "All") & (qm.horizon == h)].set_index("column").reindex(cols)
        A = stats.periods_per_year(h)
        m, lo, hi = d["mean"] * A, d["lo"] * A, d["hi"] * A
        colors = [PALETTE[(q - 1) % len(PALETTE)] for q in range(1, n_bins + 1)] + [TXB_COLOR]
        x = np.arange(len(cols))
        ax.bar(x, m.to_numpy(), color=colors, alpha=0.85)
        err = np.vstack([(m - lo).to_numpy(), (hi - m).to_numpy()])
        ax.errorbar(
            x, m.to_numpy(), yerr=np.nan_to_num(err), fmt="none", ecolor="#374151", capsize=3, lw=1
        )
        ax.axhline(0, color="#6b7280", lw=0.8)
        ax.set_xticks(x, cols)
        ax.set_title(f"h = {h} weekdays", fontsize=10)
        _style(ax)
    for j in range(len(horizons), nrow * ncol):
        axes[j // ncol][j % ncol].axis("off")
    fig.supylabel(f"annualised mean ({unit} a year)", fontsize=9)
    _margins(fig, left=0.06, top=1 - 0.3 / fig.get_figheight(), wspace=0.18, hspace=0.45)
    return _figure(
        fig,
        "Mean return by quantile in excess of the universe, annualised, with "
        "95% bands (standard error from non-overlapping periods).",
    )


def fig_heatmap(flows: pd.DataFrame, signal: str | None = None) -> str:
    """Monthly means of the daily input: flow %, or a signal's values (signal: its name)."""
    monthly = flows.resample("ME").mean()
    a = monthly.to_numpy(dtype=float).T
    finite = np.abs(a[np.isfinite(a)])
    lim = float(np.percentile(finite, 98)) if finite.size else 1.0
    lim = lim if lim > 0 else 1.0
    n = a.shape[0]
    height = max(2.5, 0.17 * n + 0.8)
    fig = plt.figure(figsize=(11.5, height))
    ax = fig.add_axes((0.04, 0.35 / height, 0.86, 1 - 0.5 / height))
    pad = 0.1 if n > 20 else 0.0
    cax = fig.add_axes((0.91, 0.35 / height + pad, 0.012, 1 - 0.5 / height - 2 * pad))
    im = ax.imshow(
        np.ma.masked_invalid(a),
        aspect="auto",
        cmap="RdBu",
        vmin=-lim,
        vmax=lim,
        interpolation="nearest",
    )
    ax.set_yticks(np.arange(n), monthly.columns, fontsize=7.5 if n > 20 else 9)
    years = monthly.index.year
    months = monthly.index.month
    ticks = [i for i in range(len(years)) if months[i] == 1 or (i == 0 and months[i] <= 3)]
    step = max(1, math.ceil(len(ticks) / 20))
    ticks = ticks[::step]
    ax.set_xticks(ticks, [str(years[i]) for i in ticks], fontsize=8.5)
    for side in ax.spines.values():
        side.set_visible(False)
    cb = fig.colorbar(im, cax=cax)
    cb.set_label(
        f"mean {signal} value" if signal else "mean daily flow (% of assets)", fontsize=8.5
    )
    cb.ax.tick_params(labelsize=8)
    what = (
        f"{signal}: monthly mean of its values (blue = positive, red = negative"
        if signal
        else "Country flow %: monthly mean of the daily input (blue = inflows, red = outflows"
    )
    return _figure(fig, f"{what}; colour scale clipped at the 98th percentile of |value|).")


def fig_years(cal: pd.DataFrame, unit: str) -> str:
    fig, ax = plt.subplots(figsize=(11.5, 2.8))
    v = cal["TxB"].to_numpy(dtype=float)
    ax.bar(cal["year"].astype(str), v, color=np.where(v < 0, "#c8553d", "#1b6ca8"), alpha=0.85)
    ax.axhline(0, color="#6b7280", lw=0.8)
    ax.set_ylabel(f"TxB AnnMn ({unit})", fontsize=9)
    ax.tick_params(axis="x", labelsize=8.5)
    _style(ax)
    _margins(fig, top=0.96)
    return _figure(fig, "TxB annualised mean by calendar year of the return window's end.")


# --- sections ------------------------------------------------------------------------------------


def _binned_dates(table: pd.DataFrame) -> pd.DatetimeIndex:
    """Trade dates with a bin return (the tables also hold the dates before the first bin and
    after the last, where only uRet may have a value)."""
    q = [c for c in table.columns if c != "uRet"]
    return table.index[table[q].notna().any(axis=1).to_numpy()]


def _summary_table(result, h: int) -> str:
    wide = result.summary_wide(h)
    cols = list(wide.columns)
    rows, classes = [], []
    for stat in wide.index:
        vals = wide.loc[stat]
        rows.append([stat] + [_stat_cell(stat, vals[c]) for c in cols])
        classes.append(
            [' class="lbl"'] + [_cls(c, None if stat == "DDnBeg" else vals[c]) for c in cols]
        )
    return _table(["statistic", *cols], rows, classes, [""] + [_cls(c) for c in cols])


def _txb_by_horizon(result, fac, period: str = "All", summary: pd.DataFrame | None = None) -> str:
    s = result.summary if summary is None else summary
    n = result.params.bins
    stats_shown = ["AnnMn", "AnnSd", "Sharpe", "TStat", "HitRate", "DrawDn", "AnnTo"]
    rows, classes = [], []
    for h in result.params.horizons:
        sh = s[(s.horizon == h)]
        get = {(r.statistic, r.column): r.value for r in sh.itertuples()}
        ic = fac.ic_summary[(fac.ic_summary.period == period) & (fac.ic_summary.horizon == h)]
        icm = float(ic["mean"].iloc[0]) if len(ic) else np.nan
        ict = float(ic["tstat"].iloc[0]) if len(ic) else np.nan
        vals = [get.get((st, "TxB"), np.nan) for st in stats_shown]
        extra = [get.get(("AnnMn", "Q1"), np.nan), get.get(("AnnMn", f"Q{n}"), np.nan), icm, ict]
        allv = vals + extra
        rows.append(
            [str(h)]
            + [_stat_cell(st, v) for st, v in zip(stats_shown, vals)]
            + [_num(extra[0]), _num(extra[1]), _num(icm, 3), _num(ict, 2)]
        )
        classes.append([' class="lbl"'] + [_cls("", v) for v in allv])
    head = (
        ["horizon"]
        + [f"TxB {st}" for st in stats_shown]
        + ["Q1 AnnMn", f"Q{n} AnnMn", "IC mean", "IC t-stat"]
    )
    return _table(head, rows, classes)


def _calendar_table(result, fac) -> str:
    cal = result.calendar_years
    first = result.params.horizons[0]
    ic = fac.ic_summary[fac.ic_summary.horizon == first].set_index("period")
    cols = result.columns
    rows, classes = [], []
    for r in cal.itertuples(index=False):
        d = r._asdict()
        icm = ic["mean"].get(str(d["year"]), np.nan)
        rows.append(
            [str(d["year"])] + [_num(d[c]) for c in cols] + [str(int(d["N"])), _num(icm, 3)]
        )
        classes.append([' class="lbl"'] + [_cls(c, d[c]) for c in cols] + ["", _cls("", icm)])
    return _table(
        ["year", *cols, "N", "IC mean"], rows, classes, [""] + [_cls(c) for c in cols] + ["", ""]
    )


def _period_sections(result, fac) -> str:
    out = []
    periods = [p.label for p in fac.periods]
    if not periods:
        return '<p class="note">No sub-periods (the sample spans a single year).</p>'
    for label in periods:
        ps = fac.period_summary[fac.period_summary.period == label]
        if ps.empty:
            out.append(f"<h3>{html.escape(label)}</h3><p class='note'>No trade dates.</p>")
            continue
        first = result.params.horizons[0]
        t = result.bin_returns[first]
        per = next(p for p in fac.periods if p.label == label)
        dates = _binned_dates(t)
        dates = dates[per.mask(dates)]
        span = (
            f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}, {len(dates)} trade dates"
            if len(dates)
            else "no trade dates with bins"
        )
        out.append(f"<h3>{html.escape(label)} <span class='note'>({span})</span></h3>")
        out.append(f'<div class="panel">{_txb_by_horizon(result, fac, label, ps)}</div>')
    return "".join(out)


def write_report(result, fac, path: str | Path, meta: dict | None = None) -> Path:
    """Write the report; meta: source, source_version, returns file, run id, etc."""
    meta = dict(meta or {})
    p = result.params
    first = p.horizons[0]
    unit = "pp of yield" if p.spreads else "%"
    table = result.bin_returns[first]
    n_countries = int(result.signal.notna().any(axis=0).sum())
    dates = _binned_dates(table)
    span = f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}" if len(dates) else "no trade dates"

    def val(stat, col="TxB", h=first):
        s = result.summary
        hit = s[(s.horizon == h) & (s.statistic == stat) & (s.column == col)]["value"]
        return float(hit.iloc[0]) if len(hit) else np.nan

    ic_all = fac.ic_summary[(fac.ic_summary.period == "All") & (fac.ic_summary.horizon == first)]
    ic_mean = float(ic_all["mean"].iloc[0]) if len(ic_all) else np.nan
    cards = [
        ("TxB AnnMn", _num(val("AnnMn")), f"{unit} a year, h={first}"),
        ("TxB Sharpe", _num(val("Sharpe"), 1), "100 x AnnMn / AnnSd"),
        ("TxB t-stat", _num(val("TStat"), 2), "overlap-corrected"),
        ("TxB hit rate", _num(val("HitRate"), 1), "50 x mean sign"),
        ("Rank IC", _num(ic_mean, 3), f"mean, h={first}"),
        ("TxB turnover", _num(val("AnnTo"), 0), f"% a year (Q1 + Q{p.bins})"),
    ]
    cards_html = _cards(cards)

    window = 52 if p.trade_day == "fri" else 260
    figs_top = fig_cumulative(fac.cumulative, p.bins, unit)
    fig_dd = fig_drawdown(table["TxB"], unit)
    fig_icx = fig_ic(fac.ic, p.horizons, window)
    fig_to = fig_turnover(fac.turnover, 13 if p.trade_day == "fri" else 65)
    fig_q = fig_quantiles(fac.quantile_means, p.horizons, p.bins, unit)
    signal = result.extras.get("signal")
    fig_hm = fig_heatmap(result.extras.get("signal_values", result.flows), signal)
    fig_yr = fig_years(result.calendar_years, unit) if len(result.calendar_years) else ""

    details = []
    for i, h in enumerate(p.horizons):
        k = stats.n_subseries(h, p.step)
        note = f"{len(_binned_dates(result.bin_returns[h]))} trade dates with bins" + (
            f"; {k} interleaved sub-series averaged" if k > 1 else ""
        )
        details.append(
            f"<details{' open' if i == 0 else ''}><summary>Horizon {h} weekdays "
            f'<span class="note">({note})</span></summary>'
            f'<div class="panel">{_summary_table(result, h)}</div></details>'
        )

    ac = fac.rank_autocorr_summary
    ac_all = ac[ac.period == "All"]["mean"]
    params_rows = [
        ("lookback (flow-date rows)", p.lookback),
        (
            "window",
            "pooled: sum of numerators / sum of denominators"
            if p.pooled
            else ("compounded" if p.compound else "summed"),
        ),
        ("lag + delay (flow-date rows)", f"{p.lag} + {p.delay}"),
        ("bins", p.bins),
        ("trade day", "Friday (weekly)" if p.trade_day == "fri" else "every flow date (daily)"),
        ("horizons (weekdays)", ", ".join(map(str, p.horizons))),
        (
            "returns",
            "spreads: Y(F+h) - Y(F), pp of yield"
            if p.spreads
            else (
                "index levels" if p.returns_kind == "level" else "percent daily returns, compounded"
            ),
        ),
    ]
    source_rows = [(k, v) for k, v in meta.items() if v not in (None, "")]
    source_rows += [
        (
            "daily flow rows",
            f"{len(result.flows)} ({result.flows.index.min():%Y-%m-%d} to "
            f"{result.flows.index.max():%Y-%m-%d})",
        ),
        ("countries with a signal", n_countries),
        ("trade dates with bins (first horizon)", f"{len(dates)}: {span}"),
        ("signal rank autocorrelation", _num(float(ac_all.iloc[0]) if len(ac_all) else np.nan, 3)),
    ]
    sign_note = (
        "Spreads mode: returns are yield changes, so a negative TxB means the high-inflow "
        "markets' yields fell relative to the low-inflow ones (the profitable direction "
        "for a bond long/short)."
        if p.spreads
        else "Index mode: a positive TxB means high-inflow markets outperformed."
    )
    title = meta.get("title") or "Flow-rotation backtest"
    version_html = (
        "&middot; version " + html.escape(str(meta["source_version"]))
        if meta.get("source_version") is not None
        else ""
    )
    body = f"""
{htmlkit.synthetic_banner(meta)}
<header>
  <h1>{html.escape(str(title))}</h1>
  <p class="sub">{html.escape(str(meta.get("source", "in-memory data")))}
  {version_html}
  &middot; {n_countries} countries &middot; {html.escape(span)}</p>
</header>
<div class="cards">{cards_html}</div>
<p class="note">{html.escape(sign_note)} Bin 1 holds the highest compounded flow; Q columns are in
excess of the equal-weight universe (uRet, raw).</p>

<h2>Summary by horizon</h2>
<div class="panel">{_txb_by_horizon(result, fac)}</div>
<p class="note">uRet is the mean forward return of every country with one, on every trade date
including those before the first bin. AnnTo counts a bin's transition from the empty portfolio
before its first names (100%), and into an empty one after its last. Beta and Alpha regress a
column on uRet over the dates where both have a value: the one intended difference from the
reference library, which gives NA as soon as a column lacks a date that uRet has.</p>
{"".join(details)}

<h2>Cumulative returns and drawdown</h2>
<div class="panel">{figs_top}</div>
<div class="panel">{fig_dd}</div>

<h2>Information coefficient</h2>
<div class="panel">{fig_icx}</div>

<h2>Mean return by quantile</h2>
<div class="panel">{fig_q}</div>

<h2>Turnover</h2>
<div class="panel">{fig_to}</div>

<h2>{html.escape(signal or "Country flow %")}</h2>
<div class="panel">{fig_hm}</div>

<h2>Calendar years
<span class="note">(horizon {first}; AnnMn per year of the window's end)</span></h2>
<div class="panel">{fig_yr}</div>
<div class="panel">{_calendar_table(result, fac)}</div>

<h2>Sub-periods
<span class="note">(by trade date; every statistic recomputed inside the period)</span></h2>
{_period_sections(result, fac)}

<h2>Parameters and data</h2>
<div class="grid2">
<div class="panel"><h3>Parameters</h3>{_kv(params_rows)}</div>
<div class="panel"><h3>Data source</h3>{_kv(source_rows)}</div>
</div>
<footer>Methodology: docs section 5 (the reference quintile backtest) and section 6 (factor
analytics). Statistics with overlapping horizons average {
        ", ".join(f"{stats.n_subseries(h, p.step)} (h={h})" for h in p.horizons)
    } interleaved sub-series.
Generated by flowmosaic.</footer>
"""
    doc = document(str(title), body)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
