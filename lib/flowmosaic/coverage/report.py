"""A universe's coverage as a CSV and a self-contained HTML page (docs/coverage.md).

write_outputs(rows, universe, out_dir, meta) writes out_dir/coverage-<U>.csv (the universe's
rows of gold `coverage`, years then months, with each group's share of all funds' assets)
and out_dir/coverage-<U>.html: the four groups' month-end assets per year as grouped bars,
the vendor-style table of counts, assets and shares below it, the nested groups' shares of all
funds' assets per month as lines and the monthly table (inline CSS, the figures as base64
PNGs, no scripts, no network).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from flowmosaic.coverage.job import GROUPS, CoverageRun  # noqa: E402
from flowmosaic.errors import InputError  # noqa: E402
from flowmosaic.htmlkit import (  # noqa: E402
    PALETTE,
    document,
    figure,
    kv,
    margins,
    num,
    style_axes,
    synthetic_banner,
)

COLORS = dict(zip(GROUPS, [PALETTE[2], PALETTE[0], PALETTE[1], PALETTE[3]]))
EXTRA_CSS = """
.answer { font-size:14.5px; margin:4px 0 10px; }
ul.defs { margin:6px 0 0; padding-left:18px; font-size:13px; }
ul.defs li { margin:2px 0; }
"""


def labels(universe: str) -> dict[str, str]:
    """The groups' names as the page shows them."""
    return {
        "all": "all funds",
        "universe": f"{universe} funds",
        "daily": "daily reporters",
        "daily_alloc": "daily reporters with allocations",
    }


def share_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """rows with each nested group's share of all funds' assets, in percent (NaN where all
    funds' assets are 0)."""
    total = rows["all_assets_usd"].where(rows["all_assets_usd"] > 0)
    return rows.assign(
        **{f"{g}_assets_pct": 100.0 * rows[GROUPS[g][1]] / total for g in list(GROUPS)[1:]}
    )


def file_stem(universe: str) -> str:
    """coverage-<universe>, the universe's name kept to letters, digits, '.', '_' and '-'."""
    return "coverage-" + re.sub(r"[^A-Za-z0-9._-]", "_", universe)


def _unit(rows: pd.DataFrame) -> tuple[float, str]:
    """US$ bn, or US$ m when every month's assets of all funds are below US$ 1 bn."""
    top = float(rows["all_assets_usd"].max()) if len(rows) else 0.0
    return (1e9, "US$ bn") if top >= 1e9 else (1e6, "US$ m")


def fig_years(years: pd.DataFrame, universe: str, unit: tuple[float, str]) -> str:
    """Grouped bars: the four groups' month-end assets per year, labelled with their values
    (the nested groups can be small beside all funds)."""
    scale, name = unit
    names = labels(universe)
    fig, ax = plt.subplots(figsize=(11.5, 3.8))
    x = np.arange(len(years))
    width = 0.8 / len(GROUPS)
    for i, (g, (_, assets)) in enumerate(GROUPS.items()):
        bars = ax.bar(
            x + (i - 1.5) * width, years[assets] / scale, width, color=COLORS[g], label=names[g]
        )
        if len(years) <= 12:
            ax.bar_label(bars, fmt="{:,.1f}", fontsize=7.5, color="#374151", padding=1.5)
    ax.set_xticks(x, [str(d.year) for d in years["period_start"]])
    ax.set_ylabel(f"month-end assets ({name})", fontsize=9)
    ax.margins(y=0.08)
    ax.legend(fontsize=9, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4)
    style_axes(ax)
    margins(fig, left=0.07, top=1 - 0.45 / 3.8)
    return figure(
        fig,
        f"Assets of all funds, the {universe} funds, their daily reporters and the daily "
        f"reporters with allocations, {name}, at the end of each year's last month with data.",
    )


def fig_months(months: pd.DataFrame, universe: str) -> str:
    """The nested groups' share of all funds' month-end assets per month, as lines."""
    names = labels(universe)
    shares = share_columns(months)
    fig, ax = plt.subplots(figsize=(11.5, 3.2))
    when = pd.to_datetime(months["as_of"])
    for g in list(GROUPS)[1:]:
        ax.plot(when, shares[f"{g}_assets_pct"], color=COLORS[g], lw=1.6, marker="o", ms=2.5)
        ax.plot([], [], color=COLORS[g], lw=1.6, label=names[g])
    ax.set_ylabel("% of all funds' assets", fontsize=9)
    ax.set_ylim(bottom=0)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.legend(fontsize=9, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3)
    style_axes(ax)
    margins(fig, left=0.07, top=1 - 0.45 / 3.2)
    return figure(
        fig,
        f"Month-end assets of the {universe} funds, their daily reporters and the daily "
        "reporters with allocations, in % of all funds' month-end assets, per month.",
    )


def coverage_table(rows: pd.DataFrame, universe: str, unit: tuple[float, str], year: bool) -> str:
    """Per period: each group's funds and assets and, for the nested groups, the share of all
    funds' assets; a header row names the groups over their columns."""
    scale, name = unit
    names = labels(universe)
    top = '<th colspan="2"></th>' + "".join(
        f'<th colspan="{2 if g == "all" else 3}" style="text-align:center">'
        f"{html.escape(names[g])}</th>"
        for g in GROUPS
    )
    sub = ["year" if year else "month", "as of"]
    for g in GROUPS:
        sub += ["funds", name] + ([] if g == "all" else ["% of all"])
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in sub) + "</tr>"
    body = []
    for r in share_columns(rows).itertuples():
        cells = [
            f"{r.period_start:%Y}" if year else f"{r.period_start:%Y-%m}",
            f"{r.as_of:%Y-%m-%d}",
        ]
        for g, (count, assets) in GROUPS.items():
            cells += [f"{getattr(r, count):,}", num(getattr(r, assets) / scale, 1)]
            if g != "all":
                cells.append(num(getattr(r, f"{g}_assets_pct"), 1))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{top}</tr>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def write_outputs(
    rows: pd.DataFrame, universe: str, out_dir: str | Path, meta: Mapping | None = None
) -> dict[str, Path]:
    """Write coverage-<U>.csv and coverage-<U>.html of `rows` (gold coverage's rows; those of
    other universes are left out) into out_dir; returns their paths by kind ('csv', 'html').
    meta: shown on the page (warehouse, table version ...); meta['synthetic'] true adds a
    visible note."""
    meta = dict(meta or {})
    mine = rows[rows["universe"] == universe]
    if mine.empty:
        raise InputError(f"coverage has no rows for universe {universe!r}")
    mine = mine.sort_values(["period", "period_start"], ascending=[False, True])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(universe)
    csv = out / f"{stem}.csv"
    share_columns(mine).to_csv(csv, index=False, float_format="%.10g", date_format="%Y-%m-%d")

    years = mine[mine["period"] == "year"].reset_index(drop=True)
    months = mine[mine["period"] == "month"].reset_index(drop=True)
    unit = _unit(mine)
    names = labels(universe)
    last = years.iloc[-1]
    title = f"Coverage: {universe}"
    sub = (
        f"{months['period_start'].min():%Y-%m} to {months['period_start'].max():%Y-%m} "
        f"&middot; {len(months)} months with data &middot; assets in {unit[1]}"
    )
    total = float(last["all_assets_usd"])
    share = 100.0 * float(last["daily_alloc_assets_usd"]) / total if total > 0 else None
    answer = (
        f"At {last['as_of']:%Y-%m-%d}, {last['daily_alloc_funds']:,} of {last['all_funds']:,} "
        f"funds reporting that month, with {num(share, 1)}% of their assets, reach "
        f"{universe}'s daily country flows."
    )
    defs = "".join(
        f"<li><b>{html.escape(names[g])}</b>: {html.escape(text)}</li>"
        for g, text in (
            ("all", "every fund with a daily, weekly or monthly row in the month"),
            (
                "universe",
                "of those, the funds passing the universe's filters (share classes "
                "of its investor types only, if it selects some)",
            ),
            ("daily", "of those, the funds with daily rows in the month"),
            (
                "daily_alloc",
                "of those, the funds whose daily flows reach a country: an "
                "allocation snapshot serves one of their days (the 23rd rule), or a "
                "single-country fund without snapshots",
            ),
        )
    )
    source = [(k, v) for k, v in meta.items() if k != "synthetic" and v not in (None, "")]
    body = f"""
<header>
  <h1>{html.escape(title)}</h1>
  <p class="sub">{sub}</p>
</header>
{synthetic_banner(meta)}
<p class="answer">{html.escape(answer)}</p>

<h2>By year</h2>
<div class="panel">{fig_years(years, universe, unit)}</div>
<div class="panel">{coverage_table(years, universe, unit, year=True)}
<p class="note">A year shows its last month with data; assets are month-end assets (each
fund's latest report in the month), the shares are of all funds' assets.</p>
<ul class="defs">{defs}</ul></div>

<h2>By month</h2>
<div class="panel">{fig_months(months, universe)}</div>
<details class="panel"><summary>Monthly table</summary>
{coverage_table(months, universe, unit, year=False)}</details>

<h2>Data</h2>
<div class="panel">{kv(source) if source else '<p class="note">none given</p>'}
<p class="note">The table's rows: <a href="{csv.name}"><code>{html.escape(csv.name)}</code></a>
</p></div>
<footer>Definitions: docs/coverage.md. Generated by flowmosaic.</footer>
"""
    page = out / f"{stem}.html"
    page.write_text(document(title, body, EXTRA_CSS), encoding="utf-8")
    return {"csv": csv, "html": page}


def write_run(
    run: CoverageRun, out_dir: str | Path, meta: Mapping | None = None
) -> dict[str, dict[str, Path]]:
    """coverage-<U>.csv and coverage-<U>.html of every universe of a run into out_dir; -> per
    universe, the paths by kind ('csv', 'html'). (Here, not a method of the run: the job's
    module does not load matplotlib.)"""
    return {u: write_outputs(run.rows, u, out_dir, meta) for u in run.universes}
