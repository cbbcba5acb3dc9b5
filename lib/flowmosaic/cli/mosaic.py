"""`flowmosaic mosaic --country JP --universe E-ALL --out DIR`: the country page (who buys the
market: domestic vs foreign vs offshore investors, retail vs institutional, home bias,
persistence, other sources) as a self-contained HTML file with its CSVs."""

from __future__ import annotations

import argparse

from flowmosaic.cli.context import Context, day
from flowmosaic.errors import ConfigError
from flowmosaic.mosaic import analyses
from flowmosaic.mosaic.page import write_country_page
from flowmosaic.mosaic.tables import external, gold, gold_or_none

NAME = "mosaic"
HELP = (
    "write the mosaic country page (mosaic-<CC>.html and CSVs) from investor_country_flows "
    "(and investor_hedge_flows when computed)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--country", required=True, help="destination country (ISO2), e.g. JP")
    p.add_argument("--universe", required=True, help="a universe already run by mosaic-flows")
    p.add_argument("--out", required=True, help="directory for mosaic-<CC>.html and its CSVs")
    p.add_argument("--start", help="first flow date shown (default: first in the table)")
    p.add_argument("--end", help="last flow date shown (default: last in the table)")
    p.add_argument(
        "--offshore",
        default=",".join(analyses.OFFSHORE_DOMICILES),
        help="fund-hub domiciles grouped as 'offshore' (default: %(default)s)",
    )
    p.add_argument(
        "--offshore-map",
        default="",
        help="map offshore domiciles to investor regions instead, e.g. LU=EU,IE=EU",
    )
    p.add_argument(
        "--synthetic", action="store_true", help="mark the page as built from synthetic data"
    )


def _mapping(text: str) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ConfigError(f"--offshore-map wants DOMICILE=REGION pairs, got {text!r}")
    return {a.strip().upper(): b.strip() for a, b in pairs}


def run(ctx: Context) -> int:
    a = ctx.args
    country = a.country.strip().upper()
    start, end = day(a.start), day(a.end)
    icf = gold(ctx.spark, ctx.settings, "investor_country_flows", a.universe, start, end)
    cf = gold(ctx.spark, ctx.settings, "country_flows", a.universe, start, end)
    # optional: without it the page's hedge panel says the split was not computed
    ihf = gold_or_none(ctx.spark, ctx.settings, "investor_hedge_flows", a.universe, start, end)
    path = write_country_page(
        country,
        a.universe,
        icf,
        cf,
        external(ctx.spark, ctx.settings, country),
        a.out,
        {"synthetic": a.synthetic, "warehouse": ctx.settings.warehouse},
        offshore=tuple(c.strip().upper() for c in a.offshore.split(",") if c.strip()),
        offshore_map=_mapping(a.offshore_map),
        start=start,
        end=end,
        hedge=ihf,
    )
    ctx.say(f"mosaic page: {path}")
    return 0
