"""Several signals through the same backtest, side by side (`flowmosaic compare-signals`,
docs/signals.md, "Comparing signals"): per signal and horizon the TxB annual mean, Sharpe
ratio and t-stat; the rank IC by sub-period with its sign; turnover; the correlation between
the signals; and which signal led in each calendar year. pandas and matplotlib only: the
backtests are run by the caller (flowmosaic.backtest.api.run), one per signal, on the same
returns and parameters.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from flowmosaic import htmlkit  # noqa: E402
from flowmosaic.backtest import api as bt_api  # noqa: E402
from flowmosaic.backtest.engine import BacktestParams, BacktestResult  # noqa: E402
from flowmosaic.backtest.factor import Period, spearman_rows  # noqa: E402
from flowmosaic.backtest.signal import SignalFrames  # noqa: E402
from flowmosaic.errors import InputError  # noqa: E402

PERFORMANCE = ("AnnMn", "Sharpe", "TStat")
FLOW_PCT = "FlowPct"  # flow % (country_flows) among the signals compared


@dataclass
class Comparison:
    results: dict[str, BacktestResult]  # by signal name, in the order compared
    performance: pd.DataFrame  # signal, horizon, AnnMn, Sharpe, TStat (TxB)
    ic: pd.DataFrame  # signal, period, horizon, n, mean, tstat, sign
    turnover: pd.DataFrame  # signal, Q1, Qn: mean turnover % per trade date; AnnTo of TxB
    correlation: pd.DataFrame  # signal x signal: mean cross-sectional rank correlation
    years: pd.DataFrame  # year, one column per signal (TxB AnnMn, first horizon), leader
    skipped: dict[str, str] = field(default_factory=dict)  # signal -> why it has no backtest

    @property
    def names(self) -> list[str]:
        return list(self.results)


def _first_horizon(results: dict[str, BacktestResult]) -> int:
    horizons = {r.params.horizons for r in results.values()}
    if len(horizons) != 1:
        raise InputError(f"signals compared on different horizons: {sorted(horizons)}")
    return next(iter(horizons))[0]


def rank_correlation(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, int]:
    """Mean over the common trade dates of the Spearman correlation across countries of two
    signals (dates with fewer than 3 countries valued in both are skipped) -> (mean, dates)."""
    dates = a.index.intersection(b.index)
    cols = a.columns.intersection(b.columns)
    if len(dates) == 0 or len(cols) < 3:
        return float("nan"), 0
    x = a.loc[dates, cols].to_numpy(dtype=float)
    y = b.loc[dates, cols].to_numpy(dtype=float)
    rho = spearman_rows(x, y)
    ok = np.isfinite(rho)
    return (float(rho[ok].mean()) if ok.any() else float("nan")), int(ok.sum())


def compare(results: dict[str, BacktestResult]) -> Comparison:
    """The comparison tables of backtests already run (each with its factor analytics in
    extras['factor'], as flowmosaic.backtest.api.run leaves them)."""
    if not results:
        raise InputError("no signal to compare")
    first = _first_horizon(results)
    perf, ics, turn, years = [], [], [], {}
    for name, r in results.items():
        for h in r.params.horizons:
            perf.append(
                {"signal": name, "horizon": h} | {s: r.value(h, s, "TxB") for s in PERFORMANCE}
            )
        fac = r.extras["factor"]
        ic = fac.ic_summary[["period", "horizon", "n", "mean", "tstat"]].copy()
        ic.insert(0, "signal", name)
        ic["sign"] = np.sign(ic["mean"]).map({1.0: "+", -1.0: "-", 0.0: "0"}).fillna("")
        ics.append(ic)
        to = fac.turnover.mean(numeric_only=True)
        turn.append(
            {"signal": name}
            | {f"{c} turnover % per date": float(to[c]) for c in fac.turnover.columns}
            | {"TxB AnnTo": r.value(first, "AnnTo", "TxB")}
        )
        cal = r.calendar_years
        years[name] = pd.Series(cal["TxB"].to_numpy(dtype=float), index=cal["year"].astype(int))
    names = list(results)
    corr = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        corr.loc[a, a] = 1.0
        for b in names[i + 1 :]:
            rho, _ = rank_correlation(results[a].signal, results[b].signal)
            corr.loc[a, b] = corr.loc[b, a] = rho
    yr = pd.DataFrame(years).sort_index().dropna(how="all")  # years no signal has a TxB in
    yr.index.name = "year"
    sign = -1.0 if any(r.params.spreads for r in results.values()) else 1.0
    valued = yr[names].notna().any(axis=1)
    yr["leader"] = ""
    if valued.any():  # idxmax of a year without any value is not defined
        yr.loc[valued, "leader"] = (sign * yr.loc[valued, names]).idxmax(axis=1)
    return Comparison(
        results=dict(results),
        performance=pd.DataFrame(perf),
        ic=pd.concat(ics, ignore_index=True),
        turnover=pd.DataFrame(turn),
        correlation=corr,
        years=yr.reset_index(),
    )


def run_all(
    flows: pd.DataFrame | None,
    signals: dict[str, SignalFrames],
    market: pd.DataFrame,
    params: BacktestParams,
    *,
    membership: pd.DataFrame | None = None,
    periods: list[Period] | None = None,
    pooled: bool = True,
    say: Callable[[str], None] | None = None,
) -> Comparison:
    """Flow % (when `flows` is given, as FLOW_PCT) and every signal through the same backtest
    and factor analytics, each signal with the look-back it needs
    (BacktestParams.for_signal); a signal whose data gives no backtest (too few rows for the
    look-back, no country with returns) is skipped with the reason, the others compared."""
    todo: list[tuple[str, pd.DataFrame | None, SignalFrames | None]] = []
    if flows is not None:
        todo.append((FLOW_PCT, flows, None))
    todo += [(name, None, frames) for name, frames in signals.items()]
    results, skipped = {}, {}
    for i, (name, wide, frames) in enumerate(todo, 1):
        p = params.for_signal(None if frames is None else name, pooled)
        try:
            results[name] = bt_api.run(
                wide, market, p, membership=membership, periods=periods, signal_input=frames
            )
        except InputError as exc:
            skipped[name] = str(exc)
        if say:
            h = p.horizons[0]
            done = (
                f"TxB Sharpe {results[name].value(h, 'Sharpe', 'TxB'):.2f} at {h} days"
                if name in results
                else f"skipped: {skipped[name]}"
            )
            say(f"  [{i}/{len(todo)}] {name}: {done}")
    if not results:
        raise InputError(
            "no signal gives a backtest: "
            + "; ".join(f"{name}: {why}" for name, why in skipped.items())
        )
    comp = compare(results)
    comp.skipped = skipped
    return comp


# --- the page -----------------------------------------------------------------------------------


def _fig_sharpe(perf: pd.DataFrame) -> str:
    names = list(dict.fromkeys(perf["signal"]))
    horizons = sorted(set(perf["horizon"]))
    fig, ax = plt.subplots(figsize=(11.5, 3.4))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(horizons))
    tab = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        v = perf[perf.signal == name].set_index("horizon").reindex(horizons)["Sharpe"]
        ax.bar(
            x + (i - (len(names) - 1) / 2) * width,
            v.to_numpy(dtype=float),
            width,
            label=name,
            color=htmlkit.PALETTE[i] if len(names) <= len(htmlkit.PALETTE) else tab(i % 20),
        )
    ax.axhline(0, color="#374151", linewidth=0.8)
    ax.set_xticks(x, [f"{h} weekdays" for h in horizons])
    ax.set_ylabel("TxB Sharpe ratio")
    htmlkit.style_axes(ax)
    ax.legend(fontsize=8, ncol=min(7, len(names)), frameon=False, loc="upper left")
    htmlkit.margins(fig, left=0.07)
    return htmlkit.figure(fig, "TxB Sharpe ratio of each signal per horizon.")


def _fig_correlation(corr: pd.DataFrame) -> str:
    n = len(corr)
    size = max(3.0, 0.42 * n + 1.6)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(corr.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks(np.arange(n), corr.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(n), corr.index, fontsize=8)
    for i in range(n):
        for j in range(n):
            v = corr.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.subplots_adjust(left=0.2, bottom=0.2, right=0.9, top=0.98)
    return htmlkit.figure(
        fig, "Mean cross-sectional rank correlation between the signals on common trade dates."
    )


def _cell(v: float, digits: int = 3) -> tuple[str, str]:
    cls = ' class="neg"' if np.isfinite(v) and v < 0 else ""
    return htmlkit.num(v, digits), cls


def _perf_table(perf: pd.DataFrame, horizons: list[int]) -> str:
    header = ["signal"] + [f"{s} h={h}" for h in horizons for s in PERFORMANCE]
    rows, classes = [], []
    for name, g in perf.groupby("signal", sort=False):
        g = g.set_index("horizon")
        cells = [
            _cell(float(g.at[h, s]), 2 if s != "AnnMn" else 3)
            for h in horizons
            for s in PERFORMANCE
        ]
        rows.append([html.escape(str(name))] + [c[0] for c in cells])
        classes.append([""] + [c[1] for c in cells])
    return htmlkit.table(header, rows, classes)


def _ic_table(ic: pd.DataFrame, horizon: int) -> str:
    one = ic[ic.horizon == horizon]
    periods = list(dict.fromkeys(one["period"]))
    header = ["signal"] + periods
    rows, classes = [], []
    for name, g in one.groupby("signal", sort=False):
        g = g.set_index("period")
        cells = [_cell(float(g.at[p, "mean"])) if p in g.index else ("", "") for p in periods]
        rows.append([html.escape(str(name))] + [c[0] for c in cells])
        classes.append([""] + [c[1] for c in cells])
    return htmlkit.table(header, rows, classes)


def _years_table(years: pd.DataFrame, names: list[str]) -> str:
    header = ["year", *names, "leader"]
    rows, classes = [], []
    for _, row in years.iterrows():
        cells = [_cell(float(row[n])) for n in names]
        rows.append(
            [str(int(row["year"]))] + [c[0] for c in cells] + [html.escape(str(row["leader"]))]
        )
        classes.append([""] + [c[1] for c in cells] + [""])
    return htmlkit.table(header, rows, classes)


def _skipped(skipped: dict[str, str]) -> str:
    if not skipped:
        return ""
    items = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in skipped.items()
    )
    return f'<h2>Not compared</h2><div class="panel"><ul>{items}</ul></div>'


def write(comp: Comparison, out_dir: str | Path, meta: dict | None = None) -> dict[str, Path]:
    """The CSVs and compare.html into out_dir -> {file name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    frames = {
        "performance.csv": comp.performance,
        "ic.csv": comp.ic,
        "turnover.csv": comp.turnover,
        "correlation.csv": comp.correlation.rename_axis("signal").reset_index(),
        "years.csv": comp.years,
    }
    paths = {}
    for name, frame in frames.items():
        frame.to_csv(out / name, index=False, float_format="%.10g")
        paths[name] = out / name
    any_result = next(iter(comp.results.values()))
    p = any_result.params
    first = p.horizons[0]
    spreads = p.spreads
    sign_note = (
        "Spreads mode: returns are yield changes, so a negative TxB means the signal's top "
        "markets' yields fell relative to its bottom ones (the profitable direction for a bond "
        "long/short); the year's leader is the signal with the lowest TxB."
        if spreads
        else "Index mode: a positive TxB means the signal's top markets outperformed its "
        "bottom ones; the year's leader is the signal with the highest TxB."
    )
    best = comp.performance[comp.performance.horizon == first]
    if len(best) and best["Sharpe"].notna().any():
        idx = (best["Sharpe"] * (-1 if spreads else 1)).idxmax()
        top = f"{best.at[idx, 'signal']} ({htmlkit.num(float(best.at[idx, 'Sharpe']), 2)})"
    else:
        top = "&ndash;"
    cards = htmlkit.cards(
        [
            ("signals", str(len(comp.names)), "compared on the same returns and parameters"),
            (f"best TxB Sharpe, h={first}", top, "the profitable direction of the mode"),
            (
                "trade dates",
                str(len(any_result.signal)),
                f"{any_result.signal.index.min():%Y-%m-%d} to "
                f"{any_result.signal.index.max():%Y-%m-%d}",
            ),
        ]
    )
    params = [
        ("lookback (flow-date rows)", f"{p.lookback} (daily signals; monthly: latest value)"),
        ("lag + delay (flow-date rows)", f"{p.lag} + {p.delay}"),
        ("bins", p.bins),
        ("trade day", "Friday (weekly)" if p.trade_day == "fri" else "every flow date (daily)"),
        ("horizons (weekdays)", ", ".join(map(str, p.horizons))),
    ]
    params += [(k, v) for k, v in meta.items() if v not in (None, "") and k != "synthetic"]
    title = meta.get("title") or "Signal comparison"
    body = f"""
{htmlkit.synthetic_banner(meta)}
<header>
  <h1>{html.escape(str(title))}</h1>
  <p class="sub">{html.escape(", ".join(comp.names))}</p>
</header>
<div class="cards">{cards}</div>
<p class="note">{html.escape(sign_note)}</p>

<h2>TxB by horizon</h2>
<div class="panel">{_fig_sharpe(comp.performance)}</div>
<div class="panel">{_perf_table(comp.performance, list(p.horizons))}</div>

<h2>Rank IC by sub-period <span class="note">(horizon {first}; mean per trade date)</span></h2>
<div class="panel">{_ic_table(comp.ic, first)}</div>

<h2>Turnover <span class="note">(horizon {first})</span></h2>
<div class="panel">{
        htmlkit.table(
            list(comp.turnover.columns),
            [
                [html.escape(str(r.iloc[0]))] + [htmlkit.num(float(v), 1) for v in r.iloc[1:]]
                for _, r in comp.turnover.iterrows()
            ],
        )
    }</div>

<h2>Correlation between the signals</h2>
<div class="panel">{_fig_correlation(comp.correlation)}</div>

<h2>Calendar years <span class="note">(TxB AnnMn, horizon {first})</span></h2>
<div class="panel">{_years_table(comp.years, comp.names)}</div>

{_skipped(comp.skipped)}
<h2>Parameters and sources</h2>
<div class="panel">{htmlkit.kv(params)}</div>
"""
    page = out / "compare.html"
    page.write_text(htmlkit.document(str(title), body), encoding="utf-8")
    paths["compare.html"] = page
    return paths
