"""The snapshots in a landing area (local folder or bucket) that no earlier batch diagnosed: diagnosed in camera
and time order, their picture size kept (the HD ratio is measured on what cameras deliver), written once to
`silver.snapshot_diagnosis` under a batch id named by the files."""
from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from safecity.lakehouse.catalog import ensure_table
from safecity.lakehouse.exactly_once import append_once
from safecity.ingestion.landing import Landing, LocalLanding
from safecity.ingestion.video_quality.batch import SCHEMA as DIAGNOSIS_SCHEMA, FileDiagnosis, diagnose_files, \
    diagnoses_table
from safecity.ingestion.video_quality.contact_sheet import contact_sheet
from safecity.ingestion.video_quality.references import ReferenceStore
from safecity.ingestion.video_quality.snapshots import jpeg_size

SNAPSHOTS = "snapshots"
REFERENCE = "reference"
TABLE = "silver.snapshot_diagnosis"
TABLE_SCHEMA = pa.schema(list(DIAGNOSIS_SCHEMA) + [pa.field("width", pa.int32()), pa.field("height", pa.int32()),
                                                   pa.field("_batch_id", pa.string()),
                                                   pa.field("_diagnosed_at", pa.timestamp("us", tz="UTC"))])


@dataclass(frozen=True)
class SnapshotBatch:
    batch_id: str
    in_landing: int
    new: list[str]
    results: list[FileDiagnosis]
    sheet: Path | None


def _local_files(landing: Landing, names: list[str], cache: Path) -> dict[str, Path]:
    """Local paths for landing files: the files themselves in a local landing, a downloaded copy from a bucket."""
    if isinstance(landing, LocalLanding):
        return {name: landing.root / name for name in names}
    paths = {}
    for name in names:
        target = cache / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(landing.read(name))
        paths[name] = target
    return paths


def diagnose_landing(catalog, landing: Landing, *, persist_references: bool = True,
                     sheet: Path | None = None, now: dt.datetime | None = None) -> SnapshotBatch:
    """Diagnose the new snapshots and commit them; `sheet`: where to draw the contact sheet of defects."""
    now = now or dt.datetime.now(dt.timezone.utc)
    table = ensure_table(catalog, TABLE, TABLE_SCHEMA)
    every = [n for n in landing.files(SNAPSHOTS, "*.jpg") if f"/{REFERENCE}/" not in f"/{n}"]
    done = set(table.scan(selected_fields=("file",)).to_arrow().column("file").to_pylist()) \
        if table.current_snapshot() else set()
    new = [n for n in every if n not in done]
    references = landing.files(f"{SNAPSHOTS}/{REFERENCE}", "*.jpg")
    batch_id = "vqd:" + hashlib.sha256("\n".join(sorted(new)).encode()).hexdigest()[:32]
    with tempfile.TemporaryDirectory() as cache:
        local = _local_files(landing, new + references, Path(cache))
        reference_dir = (landing.root / SNAPSHOTS / REFERENCE) if isinstance(landing, LocalLanding) \
            else Path(cache) / SNAPSHOTS / REFERENCE
        store = ReferenceStore(reference_dir, persist=persist_references and isinstance(landing, LocalLanding))
        results = list(diagnose_files([local[n] for n in new], store))
        names = {str(path): name for name, path in local.items()}
        diagnoses = diagnoses_table(results)
        files = [names.get(f, f) for f in diagnoses.column("file").to_pylist()]
        sizes = {}
        for name, path in local.items():
            with open(path, "rb") as handle:
                sizes[name] = jpeg_size(handle.read(1 << 16)) or (None, None)
        rows = diagnoses.set_column(0, "file", pa.array(files, pa.string())) \
            .append_column("width", pa.array([sizes.get(f, (None, None))[0] for f in files], pa.int32())) \
            .append_column("height", pa.array([sizes.get(f, (None, None))[1] for f in files], pa.int32())) \
            .append_column("_batch_id", pa.array([batch_id] * diagnoses.num_rows, pa.string())) \
            .append_column("_diagnosed_at", pa.array([now] * diagnoses.num_rows, pa.timestamp("us", tz="UTC")))
        # Nothing new, nothing to commit: a run over an unchanged landing leaves the table as it was.
        if new:
            append_once(table, rows, batch_id)
        drawn = contact_sheet([r for r in results if r.diagnosis is not None and r.diagnosis.defect], sheet) \
            if sheet is not None else None
    return SnapshotBatch(batch_id, len(every), new, results, drawn)
