"""Data-access events (数据访问事件) for the security pack's sensitive-data policy, from the data service's audit
(ops.data_access, written by service/audit.py): one event per answered request, by the client that made it, with
how many sensitive columns it was given unmasked and how many rows. Refused requests returned nothing and are not
accesses. The event id is the client and the request's moment (to the microsecond), so a rerun gives the same ids."""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.config.profiles import CityProfile


def access_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime) -> dict[str, pa.Table]:
    accesses = con.execute("""
        SELECT client_id AS user_id, role, table_name, sensitive_columns, rows, ts,
               'data_access:' || client_id AS _batch_id, epoch_us(ts) AS _line
        FROM ops.data_access
        WHERE outcome = 'ok' AND client_id IS NOT NULL
        ORDER BY ts, user_id""").to_arrow_table()
    return {"data_access": accesses}
