"""silver.camera_baseline: every camera's normal in the lakehouse, one row per camera and measure, with the recent
good values it is learned from (so the next batch goes on from them) and their median and spread (for people
and for SQL: what the camera usually shows)."""
from __future__ import annotations

import datetime as dt
from collections import deque

import pyarrow as pa

from safecity.ingestion.video_quality.baseline import MEASURES, BaselineBook, CameraBaseline
from safecity.ingestion.video_quality.thresholds import BaselineSettings
from safecity.lakehouse.catalog import ensure_table

TABLE = "silver.camera_baseline"
SCHEMA = pa.schema([
    ("device_id", pa.string()),
    ("measure", pa.string()),
    ("normal", pa.float64()),           # median of the recent good values
    ("spread", pa.float64()),           # 1.4826 x MAD of them
    ("snapshots", pa.int32()),          # recent good snapshots kept
    ("recent", pa.list_(pa.float64())),  # the values, oldest first
    ("_batch_id", pa.string()),         # the diagnosis batch that last updated the table
    ("_updated_at", pa.timestamp("us", tz="UTC")),
])
BATCH_PROPERTY = "safecity.vqd-batch"


def load_baselines(catalog, settings: BaselineSettings) -> BaselineBook:
    """The book as the last batch left it (an empty book before the first)."""
    table = ensure_table(catalog, TABLE, SCHEMA)
    book = BaselineBook(settings)
    if table.current_snapshot() is None:
        return book
    rows = table.scan(selected_fields=("device_id", "measure", "recent")).to_arrow().to_pylist()
    values: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        values.setdefault(row["device_id"], {})[row["measure"]] = row["recent"] or []
    for device, by_measure in values.items():
        length = min(len(v) for v in by_measure.values()) if set(by_measure) == set(MEASURES) else 0
        # A measure added since the table was written leaves the camera to learn again, from its next snapshots.
        book.recent[device] = deque(({m: by_measure[m][i] for m in MEASURES} for i in range(length)),
                                    maxlen=settings.keep)
    return book


def baseline_rows(book: BaselineBook, batch_id: str, now: dt.datetime) -> pa.Table:
    columns: dict[str, list] = {f.name: [] for f in SCHEMA}
    for device in sorted(book.recent):
        history = list(book.recent[device])
        if not history:
            continue
        learned = CameraBaseline.learn(device, history)
        for measure in MEASURES:
            for name, value in (("device_id", device), ("measure", measure), ("normal", learned.normal[measure]),
                                ("spread", learned.spread[measure]), ("snapshots", len(history)),
                                ("recent", [h[measure] for h in history]), ("_batch_id", batch_id),
                                ("_updated_at", now)):
                columns[name].append(value)
    return pa.table(columns, schema=SCHEMA)


def save_baselines(catalog, book: BaselineBook, batch_id: str, now: dt.datetime) -> int:
    """Replace the table with the book (one commit, the batch id in its summary); returns the cameras written."""
    table = ensure_table(catalog, TABLE, SCHEMA)
    rows = baseline_rows(book, batch_id, now)
    table.overwrite(rows, snapshot_properties={BATCH_PROPERTY: batch_id})
    return len(set(rows.column("device_id").to_pylist()))
