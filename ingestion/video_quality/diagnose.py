"""Diagnosis of one snapshot: every check's score, threshold and verdict.

A check that a more basic defect makes meaningless is not assessed (无法判定) rather than guessed: a blue screen has
no colour cast to speak of, a black picture no sharpness, and a picture under snow or stripes has edges that say
nothing about where the camera points. Such checks are skipped, which also keeps a bad picture cheap.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from safecity.ingestion.video_quality import checks
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.thresholds import CHECKS, VERDICTS, VideoQualityConfig, default_thresholds

_BRIGHTNESS = ("too_dark", "too_bright")
# check -> the checks whose defect makes it not assessable (signal_loss masks every other check).
MASKED_BY = {
    "colour_cast": _BRIGHTNESS,
    "blur": _BRIGHTNESS + ("noise",),
    "occlusion": _BRIGHTNESS + ("blur",),
    "scene_change": _BRIGHTNESS + ("noise", "stripes", "blur", "occlusion"),
}
_MEASURES: dict[str, Callable[[Frame], float]] = {
    "signal_loss": lambda f: checks.uniform_share(f, tolerance=2),
    "too_dark": checks.grey_mean,
    "too_bright": checks.grey_mean,
    "noise": checks.snow,
    "stripes": checks.stripe_amplitude,
    "colour_cast": checks.cast_factor,
    "blur": checks.sharpness,
    "occlusion": checks.flat_share,
}


@dataclass(frozen=True)
class CheckResult:
    check: str
    score: float | None             # None when not assessed
    threshold: float
    fault_when: str                 # below / above
    verdict: str                    # ok / defect / not_assessed
    note: str | None = None         # why not assessed

    def as_dict(self, config: VideoQualityConfig | None = None) -> dict:
        names = (config or default_thresholds()).checks[self.check]
        zh, en = VERDICTS[self.verdict]
        return {"check": self.check, "name_zh": names.name_zh, "name_en": names.name_en,
                "score": None if self.score is None else round(self.score, 4), "threshold": self.threshold,
                "fault_when": self.fault_when, "verdict": self.verdict, "verdict_zh": zh, "verdict_en": en,
                "note": self.note}


@dataclass(frozen=True)
class Diagnosis:
    results: tuple[CheckResult, ...]

    @property
    def defects(self) -> tuple[str, ...]:
        return tuple(r.check for r in self.results if r.verdict == "defect")

    @property
    def defect(self) -> str | None:
        """The most basic defect found (CHECKS order), or None for a healthy picture."""
        return self.defects[0] if self.defects else None

    def result(self, check: str) -> CheckResult:
        return next(r for r in self.results if r.check == check)

    def as_dict(self, config: VideoQualityConfig | None = None) -> dict:
        return {"defect": self.defect, "defects": list(self.defects),
                "checks": [r.as_dict(config) for r in self.results]}


def _frame(picture: "np.ndarray | Frame | None") -> Frame | None:
    if picture is None or isinstance(picture, Frame):
        return picture
    return Frame.of(picture)


def diagnose(image: "np.ndarray | Frame", previous: "np.ndarray | Frame | None" = None,
             reference: "np.ndarray | Frame | None" = None, *, config: VideoQualityConfig | None = None) -> Diagnosis:
    """Diagnose a snapshot (BGR uint8, any size, or a Frame) against the camera's previous snapshot (for frozen)
    and its reference frame (for scene_change); without them those checks are not assessed. Pass Frames to reuse
    a reference across calls: its edge map is then computed once."""
    config = config or default_thresholds()
    frame, previous, reference = _frame(image), _frame(previous), _frame(reference)
    results: dict[str, CheckResult] = {}
    for name in CHECKS:
        limit = config.checks[name]
        masks = ("signal_loss",) + MASKED_BY.get(name, ()) if name != "signal_loss" else ()
        blocker = next((m for m in masks if results[m].verdict == "defect"), None)
        note = None
        if blocker:
            note = f"masked by {blocker}"
        elif name == "frozen" and previous is None:
            note = "no previous snapshot"
        elif name == "scene_change" and reference is None:
            note = "no reference frame"
        if note:
            results[name] = CheckResult(name, None, limit.threshold, limit.fault_when, "not_assessed", note)
            continue
        if name == "frozen":
            score = checks.still_difference(frame, previous)
        elif name == "scene_change":
            score = checks.edge_agreement(frame, reference, reference.near_edges)
        else:
            score = _MEASURES[name](frame)
        results[name] = CheckResult(name, score, limit.threshold, limit.fault_when,
                                    "defect" if limit.is_defect(score) else "ok")
    return Diagnosis(tuple(results[name] for name in CHECKS))
