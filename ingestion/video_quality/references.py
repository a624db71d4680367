"""Each camera's reference frame (what it should see), kept in a folder as <device_id>.jpg and renewed after a
confirmed change of view.

A change is confirmed when `confirm_after` consecutive snapshots are judged scene_change and agree with one another
(the camera now steadily shows one other view): a single odd picture, or a camera still swinging, keeps the old
reference, and the new one is the latest of the agreeing pictures.
"""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safecity.ingestion.video_quality import checks
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.diagnose import Diagnosis
from safecity.ingestion.video_quality.snapshots import SnapshotError, read_snapshot
from safecity.ingestion.video_quality.thresholds import VideoQualityConfig, default_thresholds


@dataclass
class _Candidate:
    frame: Frame
    picture: np.ndarray
    count: int


class ReferenceStore:
    """Reference frames by device ID: loaded from `folder` on first use, written back when renewed. Without a
    folder the store lives in memory only (set() a reference first); with persist=False renewals stay in memory
    (an evaluation must not rewrite the folder it evaluates)."""

    def __init__(self, folder: str | Path | None = None, config: VideoQualityConfig | None = None, *,
                 persist: bool = True):
        self.folder = Path(folder) if folder else None
        self.persist = persist
        self.config = config or default_thresholds()
        self._frames: dict[str, Frame | None] = {}
        self._candidates: dict[str, _Candidate] = {}
        self._renewed: set[str] = set()

    def path(self, device_id: str) -> Path | None:
        return self.folder / f"{device_id}.jpg" if self.folder else None

    def get(self, device_id: str | None) -> Frame | None:
        """The camera's reference, or None if it has none yet. An unreadable reference file raises SnapshotError."""
        if device_id is None:
            return None
        if device_id not in self._frames:
            path = self.path(device_id)
            self._frames[device_id] = Frame.of(read_snapshot(path)) if path and path.exists() else None
        return self._frames[device_id]

    def set(self, device_id: str, picture: np.ndarray) -> None:
        self._frames[device_id] = Frame.of(picture)
        self._renewed.add(device_id)
        self._candidates.pop(device_id, None)
        path = self.path(device_id)
        if path and self.persist:
            path.parent.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise SnapshotError(f"{path}: cannot encode the new reference frame")
            path.write_bytes(data.tobytes())

    def release(self, device_id: str | None) -> None:
        """Forget a camera's frames once its snapshots are done: a city's worth of frames does not fit in memory
        (about 1 MB a camera). A store that does not persist keeps what it renewed or was given (set)."""
        if self.persist or device_id not in self._renewed:
            self._frames.pop(device_id, None)
        self._candidates.pop(device_id, None)

    def observe(self, device_id: str, picture: np.ndarray, frame: Frame, diagnosis: Diagnosis) -> bool:
        """Record a diagnosed snapshot; True when it confirmed a change and became the camera's new reference. A
        camera without a reference takes its first healthy snapshot as one."""
        if self.get(device_id) is None:
            if diagnosis.defect is None:
                self.set(device_id, picture)
                return True
            return False
        if diagnosis.result("scene_change").verdict != "defect":
            self._candidates.pop(device_id, None)
            return False
        candidate = self._candidates.get(device_id)
        threshold = self.config.checks["scene_change"].threshold
        if candidate and checks.edge_agreement(frame, candidate.frame, candidate.frame.near_edges) >= threshold:
            candidate = _Candidate(frame, picture, candidate.count + 1)
        else:
            candidate = _Candidate(frame, picture, 1)
        self._candidates[device_id] = candidate
        if candidate.count >= self.config.confirm_after:
            self.set(device_id, picture)
            return True
        return False
