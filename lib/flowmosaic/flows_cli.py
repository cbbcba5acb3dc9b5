"""CLI commands `country-flows` and `export`."""
from __future__ import annotations

import datetime as dt

from flowmosaic.errors import InputError


def parse_day(text: str | None) -> dt.date | None:
    from flowmosaic.calendar import parse_date
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def parse_month(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text.strip()[:7], "%Y-%m").date()
    except ValueError as exc:
        raise InputError(f"--alloc-month wants YYYY-MM, got {text!r}") from exc


def cmd_country_flows(args) -> int:
    from flowmosaic import country_flows
    from flowmosaic.cli import _settings, _spark
    settings = _settings(args)
    spark = _spark(args, "country-flows")
    run = country_flows.run(spark, settings, args.universe, start=parse_day(args.start),
                            end=parse_day(args.end), alloc_month=parse_month(args.alloc_month),
                            max_age_months=args.allocation_max_age_months,
                            universes_path=args.universes)
    print(run.describe())
    return 0


def cmd_export(args) -> int:
    from flowmosaic import export
    from flowmosaic.cli import _settings, _spark
    settings = _settings(args)
    spark = _spark(args, "export")
    for universe in args.universe.split(","):
        path, rows, version = export.export(spark, settings, universe.strip(), args.out,
                                            args.countries, args.version)
        print(f"{universe}: {rows} flow dates -> {path} (country_flows@{version})")
    return 0


def register_cli(sub, add_common) -> None:
    p = sub.add_parser("country-flows", help="aggregate silver flows to daily country flows (gold)")
    add_common(p)
    p.add_argument("--universe", required=True, help="universe name(s) from universes.yaml, comma-separated")
    p.add_argument("--start", help="first flow date (yyyy-mm-dd or yyyymmdd; default: first in data)")
    p.add_argument("--end", help="last flow date (default: last in data)")
    p.add_argument("--alloc-month", help="YYYY-MM: recompute just the flow dates this allocation "
                                         "month can affect (after (re)ingesting it)")
    p.add_argument("--allocation-max-age-months", type=int, default=0,
                   help="carry a fund's last snapshot forward up to N months (default 0: off)")
    p.add_argument("--universes", help="universes YAML (default conf/universes.yaml)")
    p.set_defaults(func=cmd_country_flows)

    p = sub.add_parser("export", help="write vendor-format strategy files from country_flows")
    add_common(p)
    p.add_argument("--universe", required=True, help="universe name(s), comma-separated")
    p.add_argument("--out", required=True, help="directory; files go to OUT/Strategies/daily/")
    p.add_argument("--countries", help="G10, another group, or a list AU,CA,... (default: all 52)")
    p.add_argument("--version", type=int, help="country_flows table version (default: current)")
    p.set_defaults(func=cmd_export)
