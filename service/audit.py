"""The audit of every request (访问审计) in the lakehouse table ops.data_access; the data_access events the
security pack's sensitive-data policy reads are derived from it by safecity.analytics.access_events.

Requests are queued and appended in batches by one writer thread: one Iceberg commit per request would serialise
every reader on the catalog; `flush` writes what is queued (the service flushes on shutdown too).
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import asdict, dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from safecity.lakehouse.catalog import ensure_table

AUDIT_TABLE = "ops.data_access"
SCHEMA = pa.schema([
    ("ts", pa.timestamp("us", tz="UTC")), ("client_id", pa.string()), ("role", pa.string()),
    ("table_name", pa.string()), ("columns", pa.string()), ("unmasked_columns", pa.string()),
    ("sensitive_columns", pa.int64()), ("filters", pa.string()), ("rows", pa.int64()),
    ("snapshot_id", pa.int64()), ("outcome", pa.string()), ("status", pa.int64()), ("path", pa.string()),
])


@dataclass
class AccessRecord:
    ts: dt.datetime
    client_id: str
    role: str
    table_name: str
    columns: str
    unmasked_columns: str
    sensitive_columns: int
    filters: str
    rows: int
    snapshot_id: int | None
    outcome: str
    status: int
    path: str


class AuditLog:
    def __init__(self, catalog: Catalog, interval: float = 0.5):
        self._catalog, self._interval = catalog, interval
        self._queue: list[AccessRecord] = []
        self._lock, self._write_lock = threading.Lock(), threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, record: AccessRecord) -> None:
        with self._lock:
            self._queue.append(record)

    def flush(self) -> int:
        with self._write_lock:
            with self._lock:
                pending, self._queue = self._queue, []
            if pending:
                rows = pa.Table.from_pylist([asdict(r) for r in pending], schema=SCHEMA)
                ensure_table(self._catalog, AUDIT_TABLE, SCHEMA).append(rows)
            return len(pending)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()


def read_audit(catalog: Catalog) -> pa.Table:
    try:
        return catalog.load_table(AUDIT_TABLE).scan().to_arrow()
    except NoSuchTableError:
        return SCHEMA.empty_table()


def describe_filters(filters: list) -> str:
    return json.dumps([f.model_dump() for f in filters], ensure_ascii=False, default=str)
