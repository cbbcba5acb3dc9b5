"""The single-node reference the benchmark compares flowmosaic with: the same work as DuckDB SQL.

    python bench/duckdb_reference.py ingest RAW_DIR OUT_DIR     # raw files -> accepted + rejects
    python bench/duckdb_reference.py aggregate OUT_DIR OUT.parquet  # accepted rows -> country rows

ingest reads the raw files `generate` writes (funds.csv, share_classes.csv, allocations.csv
(wide), flows/ as CSV or Parquet part files), applies the same row checks as flowmosaic's
ingest (types, flow calendar, blanks, negative assets, duplicate keys, unknown share classes /
funds, fund mismatch; allocations: unknown country, range, duplicate lines, sums above 100.5)
and writes accepted rows and rejects as Parquet under OUT_DIR (the allocation lines that are
not countries, cash and the like, accepted apart in alloc_other.parquet, never in a country).
aggregate is the country aggregation (23rd rule, the two standard universes) from the accepted
share-class rows, with the sizes of the terms summed so that equality can be judged against
them.

Each prints one JSON line: {"seconds": ..., ...counts}. Run as a child process by run_bench.py.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import duckdb
import yaml

# The two standard universes of conf/universes.yaml, written out by hand.
UNIVERSES = {"FloPctCtry": "E", "FloPctCtry-B": "B"}
# The destinations a fund may allocate to: the ISO 3166-1 codes of conf/destinations.yaml (the
# data file, not flowmosaic's reading of it). Every other column of the wide file but the keys
# is a line that is not a country when its label is one of the file's non_country spellings
# (compared upper-cased without spaces, underscores and hyphens: Cash, Other, Supranational,
# ...; checked like the others, counted in the sums, kept apart from the countries), else an
# unknown country.
_DESTINATIONS = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "conf" / "destinations.yaml").read_text()
)
COUNTRIES = sorted(_DESTINATIONS["countries"])
NON_COUNTRY = {
    re.sub(r"[\s_-]", "", str(text).strip().upper()): kind
    for kind, spellings in (_DESTINATIONS.get("non_country") or {}).items()
    for text in spellings or ()
}
FLOW_DATE = (
    "dayofweek({c}) BETWEEN 1 AND 5 AND NOT (month({c}) = 1 AND day({c}) = 1) "
    "AND NOT (month({c}) = 12 AND day({c}) = 25)"
)


def _flows_source(raw: Path) -> str:
    parts = sorted((raw / "flows").glob("*.parquet"))
    if parts:
        return f"read_parquet('{raw}/flows/*.parquet')"
    return f"read_csv('{raw}/flows/*.csv', header = true, all_varchar = true, union_by_name = true)"


def ingest(raw: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    t0 = time.time()
    q = con.execute
    q(f"""CREATE TEMP TABLE funds_raw AS SELECT * FROM read_csv('{raw}/funds.csv',
          header = true, all_varchar = true)""")
    q("""CREATE TEMP TABLE funds AS
         SELECT *, CASE
           WHEN trim(FundId) = '' OR FundId IS NULL THEN 'missing_key'
           WHEN lower(trim(CrossBorder)) NOT IN ('true','t','yes','y','1','false','f','no','n','0')
             THEN 'unparseable_boolean'
           WHEN count(*) OVER (PARTITION BY FundId) > 1 THEN 'duplicate_key' END AS reason
         FROM funds_raw""")
    q(f"""CREATE TEMP TABLE sc AS
          WITH r AS (SELECT * FROM read_csv('{raw}/share_classes.csv', header = true,
                                            all_varchar = true))
          SELECT r.*, CASE
            WHEN coalesce(trim(r.ShareId), '') = '' OR coalesce(trim(r.FundId), '') = ''
              THEN 'missing_key'
            WHEN count(*) OVER (PARTITION BY r.ShareId) > 1 THEN 'duplicate_key'
            WHEN r.FundId NOT IN (SELECT FundId FROM funds WHERE reason IS NULL)
              THEN 'unknown_fund' END AS reason
          FROM r""")
    known = ", ".join(f"'{c}'" for c in COUNTRIES)
    spellings = " ".join(
        f"WHEN '{label.replace(chr(39), chr(39) * 2)}' THEN '{kind}'"
        for label, kind in sorted(NON_COUNTRY.items())
    )
    kind = (
        f"CASE WHEN country IN ({known}) THEN NULL "
        f"ELSE CASE regexp_replace(upper(trim(country)), '[\\s_-]', '', 'g') {spellings} END END"
        if NON_COUNTRY
        else "CAST(NULL AS VARCHAR)"
    )
    q(f"""CREATE TEMP TABLE alloc AS
          WITH wide AS (SELECT row_number() OVER () AS line, *
                        FROM read_csv('{raw}/allocations.csv', header = true,
                                      all_varchar = true)),
          cells AS (UNPIVOT wide ON COLUMNS(* EXCLUDE (line, ReportDate, FundId))
                    INTO NAME country VALUE v),
          rec AS (SELECT line, ReportDate, FundId, country, {kind} AS line_kind, v,
                         try_cast(ReportDate AS DATE) AS report_date,
                         try_cast(v AS DOUBLE) AS pct FROM cells
                  WHERE trim(v) <> '' AND try_cast(v AS DOUBLE) IS DISTINCT FROM 0),
          keyed AS (SELECT *, date_trunc('month', report_date) AS alloc_month FROM rec),
          lines AS (SELECT FundId, alloc_month, count(DISTINCT line) AS n,
                           sum(CASE WHEN pct BETWEEN 0 AND 100 THEN pct END) AS s
                    FROM keyed GROUP BY ALL)
          SELECT k.*, CASE
            WHEN coalesce(trim(k.FundId), '') = '' THEN 'missing_key'
            WHEN k.country NOT IN ({known}) AND k.line_kind IS NULL THEN 'unknown_country'
            WHEN k.report_date IS NULL THEN 'unparseable_date'
            WHEN k.pct IS NULL OR isnan(k.pct) OR isinf(k.pct) THEN 'unparseable_number'
            WHEN k.pct < 0 OR k.pct > 100 THEN 'allocation_out_of_range'
            WHEN l.n > 1 THEN 'duplicate_key'
            WHEN l.s > 100.5 THEN 'allocation_sum_above_100_5'
            WHEN k.FundId NOT IN (SELECT FundId FROM funds WHERE reason IS NULL)
              THEN 'unknown_fund' END AS reason
          FROM keyed k LEFT JOIN lines l USING (FundId, alloc_month)""")
    src = _flows_source(raw)
    q(f"""CREATE TEMP TABLE flows_typed AS
          SELECT ReportDate, ShareId, FundId,
                 coalesce(try_cast(ReportDate AS DATE),
                          try_strptime(CAST(ReportDate AS VARCHAR), '%Y%m%d')::DATE) AS flow_date,
                 try_cast(Flow AS DOUBLE) AS flow, try_cast(AssetsStart AS DOUBLE) AS assets_start,
                 try_cast(AssetsEnd AS DOUBLE) AS assets_end,
                 try_cast(PortfolioChange AS DOUBLE) AS portfolio_change,
                 try_cast(ForexChange AS DOUBLE) AS forex_change
          FROM {src}""")
    q("""CREATE TEMP TABLE dups AS SELECT flow_date, ShareId, count(*) AS n FROM flows_typed
         WHERE flow_date IS NOT NULL AND ShareId IS NOT NULL GROUP BY ALL HAVING count(*) > 1""")
    q(f"""CREATE TEMP TABLE flows AS
          SELECT f.*, CASE
            WHEN f.ReportDate IS NULL OR f.ShareId IS NULL OR f.FundId IS NULL THEN 'missing_key'
            WHEN f.flow_date IS NULL THEN 'unparseable_date'
            WHEN NOT ({FLOW_DATE.format(c="f.flow_date")}) THEN 'not_flow_date'
            WHEN f.flow IS NULL OR f.assets_start IS NULL THEN 'missing_value'
            WHEN isnan(f.flow) OR isinf(f.flow) OR isnan(f.assets_start) THEN 'unparseable_number'
            WHEN f.assets_start < 0 THEN 'negative_assets_start'
            WHEN d.n IS NOT NULL THEN 'duplicate_key'
            WHEN s.ShareId IS NULL THEN 'unknown_share_class'
            WHEN s.FundId <> f.FundId THEN 'fund_mismatch' END AS reason,
            abs(f.assets_end - (f.assets_start + f.flow + f.portfolio_change + f.forex_change))
              > greatest(1.0, 1e-6 * abs(f.assets_start)) AS identity_break
          FROM flows_typed f
          LEFT JOIN (SELECT ShareId, FundId FROM sc WHERE reason IS NULL) s ON f.ShareId = s.ShareId
          LEFT JOIN dups d ON f.flow_date = d.flow_date AND f.ShareId = d.ShareId""")
    counts = {}
    for name, accepted_cols, where in (
        ("funds", "* EXCLUDE (reason)", ""),
        ("sc", "* EXCLUDE (reason)", ""),
        ("alloc", "alloc_month, report_date, FundId, country, pct", " AND line_kind IS NULL"),
        (
            "flows",
            "flow_date, ShareId, FundId, flow, assets_start, "
            "assets_end, portfolio_change, forex_change, "
            "identity_break",
            "",
        ),
    ):
        q(
            f"COPY (SELECT {accepted_cols} FROM {name} WHERE reason IS NULL{where}) "
            f"TO '{out}/{name}.parquet' (FORMAT parquet)"
        )
        q(
            f"COPY (SELECT * FROM {name} WHERE reason IS NOT NULL) "
            f"TO '{out}/{name}_rejects.parquet' (FORMAT parquet)"
        )
        counts[name] = dict(
            zip(
                ("read", "accepted"),
                q(
                    f"SELECT count(*), count(*) FILTER (WHERE reason IS NULL) FROM {name}"
                ).fetchone(),
            )
        )
    q(
        "COPY (SELECT alloc_month, report_date, FundId, line_kind, country AS label, pct "
        "FROM alloc WHERE reason IS NULL AND line_kind IS NOT NULL) "
        f"TO '{out}/alloc_other.parquet' (FORMAT parquet)"
    )
    counts["alloc"]["other_lines"] = q(
        "SELECT count(*) FROM alloc WHERE reason IS NULL AND line_kind IS NOT NULL"
    ).fetchone()[0]
    return {"seconds": time.time() - t0, "counts": counts}


AGGREGATE = """
WITH members AS (
    {members}
),
fund_day AS (
    SELECT f.FundId, f.flow_date, sum(f.flow) AS flow, sum(f.assets_start) AS assets
    FROM read_parquet('{acc}/flows.parquet') f SEMI JOIN members m ON f.FundId = m.FundId
    GROUP BY ALL
),
dated AS (
    SELECT m.universe, d.*,
           CAST(date_trunc('month', d.flow_date)
                - to_months(CASE WHEN day(d.flow_date) >= 23 THEN 1 ELSE 2 END) AS DATE)
               AS alloc_month
    FROM fund_day d JOIN members m USING (FundId)
),
weights AS (
    SELECT FundId, CAST(alloc_month AS DATE) AS alloc_month, country, pct / 100.0 AS w
    FROM read_parquet('{acc}/alloc.parquet') WHERE pct > 0
)
SELECT universe, flow_date, country,
       sum(flow * w) AS flow_usd, sum(assets * w) AS assets_start_usd,
       100.0 * sum(flow * w) / nullif(sum(assets * w), 0) AS flow_pct, count(*) AS fund_count,
       sum(abs(flow * w)) AS flow_terms, sum(abs(assets * w)) AS assets_terms
FROM dated JOIN weights USING (FundId, alloc_month)
GROUP BY ALL
"""


def aggregate(acc: Path, out: Path) -> dict:
    con = duckdb.connect()
    members = " UNION ALL ".join(
        f"SELECT FundId, '{u}' AS universe FROM read_parquet('{acc}/funds.parquet') "
        f"WHERE AssetClass = '{a}' AND lower(trim(CrossBorder)) IN ('true','t','yes','y','1')"
        for u, a in UNIVERSES.items()
    )
    t0 = time.time()
    con.execute(f"COPY ({AGGREGATE.format(members=members, acc=acc)}) TO '{out}' (FORMAT parquet)")
    seconds = time.time() - t0
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    return {
        "seconds": seconds,
        "rows": rows,
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
    }


if __name__ == "__main__":
    mode, a, b = sys.argv[1:4]
    result = ingest(Path(a), Path(b)) if mode == "ingest" else aggregate(Path(a), Path(b))
    print(json.dumps(result, default=str))
