"""Each camera's normal (基线): the measures of its recent good snapshots, summarised by median and MAD, so that a
verdict says how far a picture lies from what this camera usually shows. A harbour camera looking at the sea has
little texture and a snowy street little colour; neither is a defect for the camera that always shows it.

    measures(frame) -> {measure: value}                   what a baseline keeps of one snapshot
    CameraBaseline.learn(device, [measures, ...])         median / spread of the recent good snapshots
    BaselineBook                                          the baselines of many cameras, updated as snapshots come

The book is kept in the lakehouse as silver.camera_baseline (baseline_store.py).
"""
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from safecity.ingestion.video_quality import checks
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.thresholds import BaselineSettings

MEASURES = {
    "brightness": checks.grey_mean,
    "highlights": checks.highlights,
    "contrast": checks.contrast,
    "sharpness": checks.relative_sharpness,
    "colour_cast": checks.cast_factor,
    "texture": checks.flat_share,
    "noise": checks.noise_sigma,
    "stripes": checks.stripe_amplitude,
}
MAD_TO_SIGMA = 1.4826           # MAD of a normal distribution x this = its standard deviation


def measure(frame: Frame, name: str) -> float:
    """One baseline measure of a frame, taken once per frame."""
    if name not in frame.memo:
        frame.memo[name] = float(MEASURES[name](frame))
    return frame.memo[name]


def measures(frame: Frame) -> dict[str, float]:
    return {name: measure(frame, name) for name in MEASURES}


@dataclass(frozen=True)
class CameraBaseline:
    device_id: str
    normal: dict[str, float]        # median of each measure over the camera's recent good snapshots
    spread: dict[str, float]        # 1.4826 x MAD of each measure
    snapshots: int                  # good snapshots it was learned from

    @classmethod
    def learn(cls, device_id: str, recent: Iterable[dict[str, float]]) -> "CameraBaseline":
        recent = list(recent)
        if not recent:
            raise ValueError(f"camera {device_id}: no good snapshot to learn a baseline from")
        normal, spread = {}, {}
        for name in MEASURES:
            values = np.array([m[name] for m in recent], np.float64)
            normal[name] = float(np.median(values))
            spread[name] = float(MAD_TO_SIGMA * np.median(np.abs(values - normal[name])))
        return cls(device_id, normal, spread, len(recent))


@dataclass
class BaselineBook:
    """Baselines by device ID, with each camera's recent good measures (at most `settings.keep`). A camera is judged
    against its baseline once it has `settings.min_snapshots` good snapshots."""

    settings: BaselineSettings
    recent: dict[str, deque] = field(default_factory=dict)

    def baseline(self, device_id: str | None) -> CameraBaseline | None:
        history = self.recent.get(device_id) if device_id else None
        if not history or len(history) < self.settings.min_snapshots:
            return None
        return CameraBaseline.learn(device_id, history)

    def add(self, device_id: str, values: dict[str, float]) -> None:
        """Record a good snapshot's measures; the oldest beyond `keep` falls out."""
        self.recent.setdefault(device_id, deque(maxlen=self.settings.keep)).append(values)

    def learn_from(self, device_id: str, frames: Iterable[Frame]) -> CameraBaseline | None:
        """Record the measures of frames known good (an operator's pick, a labelled set)."""
        for frame in frames:
            self.add(device_id, measures(frame))
        return self.baseline(device_id)
