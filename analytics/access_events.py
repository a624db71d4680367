"""Data-access events (数据访问事件) for the security pack's sensitive-data policy, one per answered query, from
the data service's own audit (ops.data_access, written by service/audit.py) and the access logs other systems export
(silver.data_access_log): who read which table, how many sensitive columns it was given unmasked, how many rows.
Refused requests returned nothing and are not accesses. The event id is the account and the query's moment (to the
microsecond), so a rerun gives the same ids."""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.config.profiles import CityProfile

SOURCES = {
    "ops.data_access": "SELECT client_id AS user_id, role, table_name, sensitive_columns, rows, ts "
                       "FROM ops.data_access WHERE outcome = 'ok' AND client_id IS NOT NULL",
    "silver.data_access_log": "SELECT user_id, role, table_name, sensitive_columns, rows, accessed_at AS ts "
                              "FROM silver.data_access_log",
}


def access_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                  present: frozenset[str]) -> dict[str, pa.Table]:
    """`present`: the tables the registry found published (namespace.table); at least one of SOURCES is."""
    union = " UNION ALL ".join(sql for name, sql in SOURCES.items() if name in present)
    accesses = con.execute(f"""
        SELECT user_id, role, table_name, sensitive_columns, rows, ts,
               'data_access:' || user_id AS _batch_id, epoch_us(ts) AS _line
        FROM ({union}) ORDER BY ts, user_id""").to_arrow_table()
    return {"data_access": accesses}
