"""A picture of what the diagnosis found: for each defect class, a few of the snapshots judged so, in one PNG, so
an engineer sees at a glance what "blur" or "occlusion" means on this network."""
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from safecity.ingestion.video_quality.batch import FileDiagnosis
from safecity.ingestion.video_quality.snapshots import SnapshotError, read_snapshot

THUMB = (240, 135)
LABEL_HEIGHT = 22


def _tile(path: Path, caption: str) -> np.ndarray | None:
    try:
        picture = read_snapshot(path)
    except SnapshotError:
        return None
    thumb = cv2.resize(picture, THUMB, interpolation=cv2.INTER_AREA)
    label = np.full((LABEL_HEIGHT, THUMB[0], 3), 32, np.uint8)
    # OpenCV's fonts have no Chinese glyphs: the caption is the check id and the device's serial.
    cv2.putText(label, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([label, thumb])


def contact_sheet(found: Iterable[FileDiagnosis], target: Path, per_class: int = 4) -> Path | None:
    """One row per defect class, up to `per_class` snapshots each; None when nothing was found."""
    by_class: dict[str, list[FileDiagnosis]] = defaultdict(list)
    for item in found:
        if item.diagnosis is not None and item.diagnosis.defect and len(by_class[item.diagnosis.defect]) < per_class:
            by_class[item.diagnosis.defect].append(item)
    rows = []
    blank = np.zeros((THUMB[1] + LABEL_HEIGHT, THUMB[0], 3), np.uint8)
    for defect in sorted(by_class):
        tiles = [t for t in (_tile(i.path, f"{defect} {(i.device_id or '')[-6:]}") for i in by_class[defect])
                 if t is not None]
        if tiles:
            rows.append(np.hstack(tiles + [blank] * (per_class - len(tiles))))
    if not rows:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), np.vstack(rows))
    return target
