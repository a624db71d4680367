"""Reconciliation: per batch, the rows received in bronze equal the rows in silver plus quarantine."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class BatchBalance:
    batch_id: str
    file: str
    bronze: int
    silver: int
    quarantine: int

    @property
    def balanced(self) -> bool:
        return self.bronze == self.silver + self.quarantine


def reconcile(con: duckdb.DuckDBPyConnection, bronze: str, silver: str, quarantine: str) -> list[BatchBalance]:
    """Balances read from the stored tables themselves (views or tables named `namespace.table`)."""
    rows = con.execute(f"""
        with b as (select _batch_id, any_value(_file) as file, count(*) as n from {bronze} group by all),
             s as (select _batch_id, count(*) as n from {silver} group by all),
             q as (select _batch_id, count(*) as n from {quarantine} group by all)
        select b._batch_id, b.file, b.n, coalesce(s.n, 0), coalesce(q.n, 0)
        from b left join s using (_batch_id) left join q using (_batch_id)
        where b._batch_id in (select _batch_id from {bronze})
        order by b.file
    """).fetchall()
    return [BatchBalance(*row) for row in rows]
