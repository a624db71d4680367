"""Diagnosis of many snapshot files at once, camera by camera in time order, as an Arrow table (the API for the
Dagster asset and the accuracy evaluation).

Each camera's snapshots are taken in order of capture time, so "the previous snapshot" of the frozen check is the
camera's preceding file in the batch. An unreadable file yields one row with its error and does not stop the batch.
"""
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from safecity.ingestion.video_quality.baseline import BaselineBook, measures
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.diagnose import Diagnosis, diagnose
from safecity.ingestion.video_quality.references import ReferenceStore
from safecity.ingestion.video_quality.snapshots import SnapshotError, read_snapshot, snapshot_name
from safecity.ingestion.video_quality.thresholds import VideoQualityConfig, default_thresholds

SCHEMA = pa.schema([
    ("file", pa.string()),
    ("device_id", pa.string()),
    ("captured_at", pa.timestamp("s")),
    ("check", pa.string()),
    ("score", pa.float64()),
    ("threshold", pa.float64()),
    ("fault_when", pa.string()),
    ("verdict", pa.string()),
    ("defect", pa.string()),            # the picture's most basic defect (null: healthy)
    ("reference_renewed", pa.bool_()),
    ("error", pa.string()),
    ("measure", pa.string()),           # what score measures, when judged against the camera's baseline
    ("normal", pa.float64()),           # the camera's normal value of it (null: absolute threshold)
])


@dataclass(frozen=True)
class FileDiagnosis:
    path: Path
    device_id: str | None
    captured_at: dt.datetime | None
    diagnosis: Diagnosis | None
    error: str | None = None
    reference_renewed: bool = False


def _camera_order(paths: Iterable[str | Path], index: dict[Path, tuple[str, dt.datetime]] | None = None
                  ) -> list[tuple[Path, str | None, dt.datetime | None]]:
    named = []
    for number, path in enumerate(paths):
        # The sidecar index says which camera and when; a file it does not list is named by its file name.
        device, when = (index or {}).get(Path(path)) or snapshot_name(path)
        named.append((number, Path(path), device, when))
    # Files whose name says no camera keep their given order and are taken as one camera (an engineer's files).
    named.sort(key=lambda t: (t[2] is None, t[2] or "", t[3] or dt.datetime.min, t[0]))
    return [(path, device, when) for _, path, device, when in named]


def diagnose_files(paths: Iterable[str | Path], references: ReferenceStore | None = None,
                   config: VideoQualityConfig | None = None, *,
                   index: dict[Path, tuple[str, dt.datetime]] | None = None, baselines: BaselineBook | None = None) -> Iterator[FileDiagnosis]:
    """Diagnose snapshot files, each against its camera's previous file in the batch, its reference in
    `references` and its baseline in `baselines` (which learns from every healthy snapshot). Camera and time come
    from `index` (a sidecar index: path -> (device_id, captured_at)) or the name <device>_<HHMMSS>.jpg in a
    YYYYMMDD folder; renewals are recorded in the store."""
    config = config or default_thresholds()
    previous: dict[str, Frame] = {}
    current = None
    for path, device, when in _camera_order(paths, index):
        if device != current:
            # Files come camera by camera: the last camera's frames are not needed again in this batch.
            previous.pop(current, None)
            if references is not None:
                references.release(current)
            current = device
        try:
            picture = read_snapshot(path)
            reference = references.get(device) if references is not None else None
        except SnapshotError as exc:
            yield FileDiagnosis(path, device, when, None, str(exc))
            continue
        frame = Frame.of(picture)
        baseline = baselines.baseline(device) if baselines is not None else None
        result = diagnose(frame, previous.get(device), reference, baseline=baseline, config=config)
        if baselines is not None and device and _learnable(result, baseline is None):
            baselines.add(device, measures(frame))
        previous[device] = frame
        renewed = references.observe(device, picture, frame, result) if references is not None and device else False
        yield FileDiagnosis(path, device, when, result, None, renewed)


# What the scene alone can make a picture look like under limits set on other cameras: a camera still learning its
# baseline learns from such snapshots (a harbour camera's sea is flat, a snowy street has no colour).
SCENE_DEPENDENT = frozenset({"low_contrast", "blur", "occlusion", "colour_cast", "stripes"})


def _learnable(result: Diagnosis, learning: bool) -> bool:
    """A snapshot the camera's baseline learns from: a healthy one, or, while the camera has no baseline yet, one
    whose only defects are scene-dependent ones judged by absolute limits."""
    return result.defect is None or (learning and set(result.defects) <= SCENE_DEPENDENT)


def diagnoses_table(results: Iterable[FileDiagnosis]) -> pa.Table:
    """One row per file and check (one row with `error` for a file that could not be read)."""
    columns: dict[str, list] = {field.name: [] for field in SCHEMA}

    def row(item: FileDiagnosis, **values) -> None:
        base = {"file": str(item.path), "device_id": item.device_id, "captured_at": item.captured_at,
                "reference_renewed": item.reference_renewed, "error": item.error}
        for name in columns:
            columns[name].append(values.get(name, base.get(name)))

    for item in results:
        if item.diagnosis is None:
            row(item)
            continue
        for r in item.diagnosis.results:
            row(item, check=r.check, score=r.score, threshold=r.threshold, fault_when=r.fault_when,
                verdict=r.verdict, defect=item.diagnosis.defect, measure=r.measure, normal=r.normal)
    return pa.table(columns, schema=SCHEMA)


def diagnose_folder(folder: str | Path, reference_dir: str | Path | None = None,
                    config: VideoQualityConfig | None = None, *, persist_references: bool = True) -> pa.Table:
    """Every *.jpg under `folder` (recursively, reference frames excluded) diagnosed, as a table of SCHEMA.
    Reference frames are read from (and renewed into) `reference_dir`, default `folder`/reference."""
    folder = Path(folder)
    reference_dir = Path(reference_dir) if reference_dir else folder / "reference"
    paths = sorted(p for p in folder.rglob("*.jpg") if reference_dir not in p.parents)
    store = ReferenceStore(reference_dir, config, persist=persist_references)
    return diagnoses_table(diagnose_files(paths, store, config))
