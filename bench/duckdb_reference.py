"""The reference: the same country aggregation as DuckDB SQL over the silver tables' current
Parquet files (the file list comes from the Delta log via deltalake; DuckDB reads the files).

Run as a separate process by run_bench.py: `python bench/duckdb_reference.py WAREHOUSE OUT.parquet`.
Prints one JSON line: {"seconds": query+write seconds, "rows": n}.
"""
from __future__ import annotations

import json
import sys
import time

import duckdb
from deltalake import DeltaTable

# Universe filters written out by hand (conf/universes.yaml's two standard universes).
UNIVERSES = {"FloPctCtry": "E", "FloPctCtry-B": "B"}

SQL = """
WITH members AS (
    {members}
),
fund_day AS (
    SELECT f.fund_id, f.flow_date, sum(f.flow) AS flow, sum(f.assets_start) AS assets
    FROM read_parquet({flows}) f SEMI JOIN members m ON f.fund_id = m.fund_id
    GROUP BY ALL
),
dated AS (
    SELECT m.universe, d.*,
           CAST(date_trunc('month', d.flow_date)
                - to_months(CASE WHEN day(d.flow_date) >= 23 THEN 1 ELSE 2 END) AS DATE)
               AS alloc_month
    FROM fund_day d JOIN members m USING (fund_id)
),
weights AS (
    SELECT fund_id, CAST(alloc_month AS DATE) AS alloc_month, country,
           allocation_pct / 100.0 AS w
    FROM read_parquet({allocs}, hive_partitioning = true)
    WHERE allocation_pct > 0
)
SELECT universe, flow_date, country,
       sum(flow * w) AS flow_usd, sum(assets * w) AS assets_start_usd,
       100.0 * sum(flow * w) / nullif(sum(assets * w), 0) AS flow_pct, count(*) AS fund_count
FROM dated JOIN weights USING (fund_id, alloc_month)
GROUP BY ALL
"""


def files(path: str) -> str:
    uris = DeltaTable(path).file_uris()
    return "[" + ", ".join(f"'{u.removeprefix('file://')}'" for u in uris) + "]"


def main(warehouse: str, out: str) -> None:
    members = " UNION ALL ".join(
        f"SELECT fund_id, '{u}' AS universe FROM read_parquet({files(warehouse + '/silver/funds')}) "
        f"WHERE asset_class = '{a}' AND cross_border" for u, a in UNIVERSES.items())
    sql = SQL.format(members=members, flows=files(warehouse + "/silver/share_class_flows"),
                     allocs=files(warehouse + "/silver/fund_allocations"))
    con = duckdb.connect()
    t0 = time.time()
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
    seconds = time.time() - t0
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({"seconds": seconds, "rows": rows, "threads": threads}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
