"""The snapshots in a landing area (local folder or bucket) that no earlier batch diagnosed: diagnosed in camera
and time order against each camera's baseline (silver.camera_baseline, updated with the batch's healthy
snapshots), their picture size kept (the HD ratio is measured on what cameras deliver), written once to
`silver.snapshot_diagnosis` under a batch id named by the files. Camera and time come from a sidecar index
(snapshots/index.csv or index.json: file, device_id, captured_at) where the site's export has one, else from the
file name."""
from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import pyarrow as pa

from safecity.lakehouse.catalog import ensure_table
from safecity.lakehouse.exactly_once import append_once
from safecity.ingestion.landing import Landing, LocalLanding
from safecity.ingestion.video_quality.baseline_store import load_baselines, save_baselines
from safecity.ingestion.video_quality.batch import SCHEMA as DIAGNOSIS_SCHEMA, diagnose_files, diagnoses_table
from safecity.ingestion.video_quality.contact_sheet import contact_sheet
from safecity.ingestion.video_quality.references import ReferenceStore
from safecity.ingestion.video_quality.report import BatchReport
from safecity.ingestion.video_quality.snapshots import jpeg_size, read_index
from safecity.ingestion.video_quality.thresholds import VideoQualityConfig, default_thresholds

SNAPSHOTS = "snapshots"
REFERENCE = "reference"
TABLE = "silver.snapshot_diagnosis"
_EXPLAINED = ("measure", "normal")     # added after the table's first version: last, where Iceberg adds them
TABLE_SCHEMA = pa.schema([f for f in DIAGNOSIS_SCHEMA if f.name not in _EXPLAINED] +
                         [pa.field("width", pa.int32()), pa.field("height", pa.int32()),
                          pa.field("_batch_id", pa.string()), pa.field("_diagnosed_at", pa.timestamp("us", tz="UTC"))] +
                         [DIAGNOSIS_SCHEMA.field(name) for name in _EXPLAINED])


INDEX_NAMES = ("index.csv", "index.json")


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


def _index(landing: Landing, local: dict[str, Path], cache: Path) -> dict[Path, tuple[str, dt.datetime]]:
    """The sidecar index of the landing's snapshots, keyed by the local path of each file it lists."""
    listed = [n for n in landing.files(SNAPSHOTS, "index.*") if Path(n).name in INDEX_NAMES]
    by_name: dict[Path, tuple[str, dt.datetime]] = {}
    for name in listed:
        path = _local_files(landing, [name], cache)[name]
        for row in read_index(path):
            landing_name = (Path(name).parent / Path(row["file"]).relative_to(path.parent)).as_posix()
            if landing_name in local:
                by_name[local[landing_name]] = (row["device_id"], row["captured_at"])
    return by_name


def diagnose_landing(catalog, landing: Landing, *, persist_references: bool = True,
                     sheet: Path | None = None, now: dt.datetime | None = None,
                     config: VideoQualityConfig | None = None) -> BatchReport:
    """Diagnose the new snapshots and commit them with the cameras' updated baselines; `sheet`: where to draw the
    contact sheet of defects. The report gives counts, defects and every flagged camera's reasons."""
    config = config or default_thresholds()
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
        store = ReferenceStore(reference_dir, config, persist=persist_references and isinstance(landing, LocalLanding))
        baselines = load_baselines(catalog, config.baseline)
        results = list(diagnose_files([local[n] for n in new], store, config, index=_index(landing, local, Path(cache)),
                                      baselines=baselines))
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
            .append_column("_diagnosed_at", pa.array([now] * diagnoses.num_rows, pa.timestamp("us", tz="UTC"))) \
            .select(TABLE_SCHEMA.names)
        # Nothing new, nothing to commit: a run over an unchanged landing leaves the table as it was.
        written = 0
        if new:
            append_once(table, rows, batch_id)
            # After the diagnoses: a crash in between loses one batch's learning, never diagnoses a batch twice.
            written = save_baselines(catalog, baselines, batch_id, now)
        drawn = contact_sheet([r for r in results if r.diagnosis is not None and r.diagnosis.defect], sheet) \
            if sheet is not None else None
    return BatchReport.of(batch_id, len(every), new, results, names, config, sheet=drawn, baselines_written=written)


def diagnose_new_snapshots(settings, *, persist_references: bool = True) -> BatchReport:
    """The diagnosis step for a home: its landing's new snapshots, into its lakehouse, with a contact sheet of the
    defects found in its reports folder (what the Dagster asset and the benchmark's direct path run)."""
    from safecity.ingestion.landing import open_landing
    from safecity.lakehouse.catalog import open_catalog

    now = dt.datetime.now(dt.timezone.utc)
    return diagnose_landing(open_catalog(settings), open_landing(settings), persist_references=persist_references,
                            now=now, sheet=settings.paths.reports / "vqd" / f"defects_{now:%Y%m%dT%H%M%S}.png")
