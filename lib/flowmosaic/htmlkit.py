"""Shared pieces of the self-contained HTML pages (backtest report, mosaic country page).

Inline CSS, a colour palette, matplotlib figures embedded as base64 PNGs, and small HTML
builders for tables, key-value lists, cards and the page itself. No scripts, no network.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = ["#1b6ca8", "#5fa2ce", "#a3a3a3", "#f2a154", "#c8553d", "#7b3294", "#2a9d8f"]

CSS = """
.banner { background:#fff4e5; border:1px solid #f2a154; color:#8a4b0f; border-radius:8px;
          padding:9px 14px; margin:0 0 14px; font-weight:600; }
:root { --ink:#1f2933; --muted:#6b7280; --line:#e5e7eb; --bg:#f7f8fa; --card:#ffffff;
        --accent:#1b6ca8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1180px; margin:0 auto; padding:28px 32px 60px; }
header { border-bottom:3px solid var(--accent); padding-bottom:14px; margin-bottom:22px; }
h1 { font-size:26px; margin:0 0 4px; letter-spacing:-.01em; }
h2 { font-size:19px; margin:34px 0 10px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:20px 0 8px; color:#374151; }
p.sub, .note { color:var(--muted); margin:2px 0; }
.note { font-size:12.5px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px;
         margin:18px 0 6px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
        padding:12px 14px; }
.card .k { color:var(--muted); font-size:12.5px; font-weight:500; }
.card .v { font-size:22px; font-weight:600; margin-top:2px; font-variant-numeric:tabular-nums; }
.card .d { color:var(--muted); font-size:12px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px;
         margin:12px 0; overflow-x:auto; }
figure { margin:0; }
figure img { display:block; max-width:100%; height:auto; margin:0 auto; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:6px; }
table { border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums; }
th, td { padding:5px 10px; text-align:right; white-space:nowrap; }
th { background:#f1f3f6; color:#374151; font-weight:600; border-bottom:1px solid #d1d5db; }
td { border-bottom:1px solid var(--line); }
tr:last-child td { border-bottom:none; }
th:first-child, td:first-child { text-align:left; }
td.lbl { color:#374151; font-weight:500; }
td.txb, th.txb { background:#eef4fa; font-weight:600; }
td.neg { color:#b42318; }
table.kv { width:100%; }
table.kv td { text-align:left; white-space:normal; }
table.kv td:first-child { color:var(--muted); width:220px; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:12px; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } }
details { margin:8px 0; }
summary { cursor:pointer; font-weight:600; color:#374151; padding:4px 0; }
code { background:#f1f3f6; padding:1px 5px; border-radius:4px; font-size:12.5px; }
footer { margin-top:40px; color:var(--muted); font-size:12px; border-top:1px solid var(--line);
         padding-top:10px; }
"""


# --- formatting ---------------------------------------------------------------------------------


def num(v, digits: int | None = None) -> str:
    """A number with thousands separators; digits by magnitude unless given; NaN/None -> dash."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "&ndash;"
    v = float(v)
    if digits is None:
        a = abs(v)
        digits = 3 if a < 10 else (2 if a < 100 else 1)
    return f"{v:,.{digits}f}"


# --- HTML builders ------------------------------------------------------------------------------


def table(
    header: list[str],
    rows: list[list[str]],
    classes: list[list[str]] | None = None,
    head_classes: list[str] | None = None,
    cls: str = "",
) -> str:
    """An HTML table. header is escaped; cells are inserted as given (already HTML).
    classes / head_classes: per-cell attribute strings such as ' class="neg"'."""
    hc = head_classes or [""] * len(header)
    out = [f'<table class="{cls}"><thead><tr>']
    out += [f"<th{h2}>{html.escape(h)}</th>" for h, h2 in zip(header, hc)]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cc = classes[i] if classes else [""] * len(row)
        out.append("<tr>" + "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cc)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def kv(pairs: Sequence[tuple[str, object]]) -> str:
    """A two-column key-value table (both sides escaped)."""
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in pairs
    )
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def cards(items: list[tuple[str, str, str]]) -> str:
    """Header cards from (title, value, description); the value is HTML, the rest escaped."""
    return "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div>'
        f'<div class="v">{v}</div><div class="d">{html.escape(d)}</div></div>'
        for k, v, d in items
    )


def synthetic_banner(meta) -> str:
    """A visible note on pages built from synthetic data (meta['synthetic'] true)."""
    if not (meta or {}).get("synthetic"):
        return ""
    return '<div class="banner">Synthetic data: generated, not market data.</div>'


def document(title: str, body: str, extra_css: str = "") -> str:
    """The whole page: head with inline CSS (shared + extra_css), body inside <main>."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(str(title))}</title><style>{CSS}{extra_css}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


# --- figures ------------------------------------------------------------------------------------


def style_axes(ax):
    """Light grid behind the data, no top/right spines, grey axes and ticks."""
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")
    ax.tick_params(colors="#374151", labelsize=9)


def margins(fig, left=0.065, right=0.99, top=0.93, bottom=None, **kw):
    """Fixed margins (faster than tight/constrained layout), in inches turned into fractions."""
    h = fig.get_figheight()
    bottom = 0.45 / h if bottom is None else bottom
    fig.subplots_adjust(
        left=left, right=right, top=1 - 0.25 / h if top is None else top, bottom=bottom, **kw
    )


def png_base64(fig) -> str:
    """The figure as a base64 PNG (100 dpi, white background); closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figure(fig, caption: str) -> str:
    """<figure> with the PNG inline and the caption (also the alt text)."""
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
        f'{png_base64(fig)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )
