"""One read of one gold table at a pinned snapshot: the client's columns, its row scope, the request's filters,
ordering and keyset position, streamed as Arrow record batches (the table is never held whole in memory).

The snapshot is resolved once per request (current, a snapshot id, or the snapshot current at a time), so a reader
never sees half of a commit. DuckDB evaluates the conditions over pyiceberg's batch reader: the values are bound as
parameters and the column names checked against the table, so no request text becomes SQL.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from pyiceberg.table import Table

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
_SQL_OP = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_PAGE = 10_000
MAX_EXPORT = 5_000_000


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(description="列名 / Column name")
    op: Op = Field(description="比较方式 / Comparison: eq, ne, lt, le, gt, ge, in")
    value: Any = Field(None, description="比较值（in 时为列表）/ Value (a list for in)")


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] | None = Field(None, max_length=200, description="返回的列，缺省为全部可见列 / Columns (default: all visible)")
    filters: list[Filter] = Field(default_factory=list, max_length=50, description="过滤条件（与）/ Filters (AND)")
    order_by: list[str] = Field(default_factory=list, max_length=10,
                                description="排序列（升序，键集分页的键）/ Sort columns, ascending (the keyset)")
    after: list[Any] | None = Field(None, description="上一页 next_after 的值 / The previous page's next_after")
    limit: int = Field(1000, ge=1, le=MAX_EXPORT, description="最多返回行数 / Maximum rows")
    as_of_snapshot: int | None = Field(None, description="快照编号 / Iceberg snapshot id")
    as_of_time: dt.datetime | None = Field(None, description="读取该时刻的快照 / Read the snapshot current at this time")
    format: Literal["json", "csv", "arrow"] = Field("json", description="返回格式 / Response format")


class BadRequest(ValueError):
    def __init__(self, code: str, zh: str, en: str):
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


@dataclass(frozen=True)
class Plan:
    sql: str
    params: list[Any]
    columns: list[str]
    snapshot_id: int | None


def pin_snapshot(table: Table, request: QueryRequest) -> int | None:
    if request.as_of_snapshot is not None:
        if table.snapshot_by_id(request.as_of_snapshot) is None:
            raise BadRequest("E_SNAPSHOT", "快照不存在", f"no snapshot {request.as_of_snapshot} for this table")
        return request.as_of_snapshot
    if request.as_of_time is not None:
        moment = request.as_of_time if request.as_of_time.tzinfo else request.as_of_time.replace(tzinfo=dt.timezone.utc)
        snapshot = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
        if snapshot is None:
            raise BadRequest("E_SNAPSHOT", "该时刻之前没有快照", f"no snapshot at or before {moment.isoformat()}")
        return snapshot.snapshot_id
    current = table.current_snapshot()
    return current.snapshot_id if current else None


def _check(names: list[str], visible: list[str]) -> None:
    unknown = [n for n in names if n not in visible]
    if unknown:
        raise BadRequest("E_COLUMN", f"列不存在：{', '.join(unknown)}", f"no such column: {', '.join(unknown)}")


def plan(request: QueryRequest, visible: list[str], scope: str | None, snapshot_id: int | None) -> Plan:
    columns = request.columns or visible
    _check([*columns, *request.order_by, *(f.column for f in request.filters)], visible)
    conditions, params = ([f"({scope})"] if scope else []), []
    for f in request.filters:
        if f.op == "in":
            if not isinstance(f.value, list) or not f.value or len(f.value) > 1000:
                raise BadRequest("E_FILTER", f"{f.column} 的 in 需要 1 至 1000 个值",
                                 f"{f.column}: 'in' needs a list of 1 to 1000 values")
            conditions.append(f'"{f.column}" IN ({", ".join("?" for _ in f.value)})')
            params += f.value
        else:
            conditions.append(f'"{f.column}" {_SQL_OP[f.op]} ?')
            params.append(f.value)
    if request.after is not None:
        if len(request.after) != len(request.order_by) or not request.order_by:
            raise BadRequest("E_CURSOR", "after 需与 order_by 一一对应", "after needs one value per order_by column")
        # Lexicographic "after": (a > x) OR (a = x AND b > y) ...
        ors = []
        for i, name in enumerate(request.order_by):
            ands = [f'"{p}" = ?' for p in request.order_by[:i]] + [f'"{name}" > ?']
            ors.append("(" + " AND ".join(ands) + ")")
            params += [*request.after[:i], request.after[i]]
        conditions.append("(" + " OR ".join(ors) + ")")
    select = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT {select} FROM source"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if request.order_by:
        sql += " ORDER BY " + ", ".join(f'"{c}"' for c in request.order_by)
    sql += f" LIMIT {int(request.limit)}"
    return Plan(sql, params, columns, snapshot_id)


def batches(table: Table, the_plan: Plan, needed: dict[str, str], batch_rows: int = 8192) -> Iterator[pa.RecordBatch]:
    """The plan's rows at its snapshot, batch by batch. `needed` maps each column the plan uses to the stored
    column it is read from (a masked companion in gold_restricted); only those stored columns are scanned, so the
    filters, sorting and results of a column served masked never see its raw value."""
    scan = table.scan(snapshot_id=the_plan.snapshot_id, selected_fields=tuple(dict.fromkeys(needed.values())))
    reader = scan.to_arrow_batch_reader()
    renamed = ", ".join(f'"{stored}" AS "{name}"' for name, stored in needed.items())
    con = duckdb.connect()
    try:
        con.register("stored", reader)
        sql = f"WITH source AS (SELECT {renamed} FROM stored) {the_plan.sql}"
        result = con.execute(sql, the_plan.params).to_arrow_reader(batch_rows)
        yield from result
    finally:
        con.close()
