"""Diagnosis of one snapshot: every check's score, limit and verdict — against the camera's own baseline where it
has one (the limit then follows its normal; CheckResult carries measure and normal so a verdict explains itself),
else against the absolute thresholds of config/video_quality.yaml.

A check that a more basic defect makes meaningless is not assessed (无法判定) rather than guessed: a blue screen has
no colour cast to speak of, a black picture no sharpness, and a picture under snow or stripes has edges that say
nothing about where the camera points. Such checks are skipped, which also keeps a bad picture cheap.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from safecity.ingestion.video_quality import checks
from safecity.ingestion.video_quality.baseline import CameraBaseline, measure as baseline_measure
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.thresholds import CHECKS, VERDICTS, CheckThreshold, VideoQualityConfig, \
    default_thresholds

_BRIGHTNESS = ("too_dark", "too_bright")
_PICTURE = _BRIGHTNESS + ("low_contrast", "noise", "stripes", "blur", "occlusion")
# check -> the checks whose defect makes it not assessable (signal_loss masks every other check). A view that moved
# (ptz_failure, jitter) has edges off the reference's, so those mask scene_change: it is kept for a view that no
# longer matches at any shift.
MASKED_BY = {
    "low_contrast": _BRIGHTNESS,
    "colour_cast": _BRIGHTNESS + ("occlusion",),
    "blur": _BRIGHTNESS + ("low_contrast", "noise"),
    "occlusion": _BRIGHTNESS + ("low_contrast", "blur"),
    "ptz_failure": _PICTURE,
    "jitter": _PICTURE + ("ptz_failure",),
    "scene_change": _PICTURE + ("ptz_failure", "jitter"),
}
# A camera with a baseline is judged against its preset view's normal, so whether it still shows that view is asked
# first: a view that changed or moved off its preset (scene_change, ptz_failure) makes the checks against the
# view's normal meaningless. The view checks then rest on phase correlation, which noise, stripes or a cover leave
# standing (only light and contrast defects mask them).
_VIEW = _BRIGHTNESS + ("low_contrast",)
MASKED_BY_BASELINE = {
    "low_contrast": _BRIGHTNESS,
    "ptz_failure": _VIEW,
    "jitter": _VIEW + ("ptz_failure",),
    "scene_change": _VIEW + ("ptz_failure", "jitter"),
    **{name: MASKED_BY.get(name, ()) + ("ptz_failure", "scene_change")
       for name in ("noise", "stripes", "blur", "occlusion", "colour_cast")},
}
ORDER_BASELINE = ("signal_loss", "frozen", "too_dark", "too_bright", "low_contrast", "ptz_failure", "jitter",
                  "scene_change", "noise", "stripes", "blur", "occlusion", "colour_cast")
# Measures of a camera without a baseline (absolute thresholds, set on the simulator).
_MEASURES: dict[str, Callable[[Frame], float]] = {
    "signal_loss": lambda f: checks.uniform_share(f, tolerance=2),
    "too_dark": checks.grey_mean,
    "too_bright": checks.grey_mean,
    "low_contrast": checks.contrast,
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
    measure: str | None = None      # what `score` measures (the baseline measure when judged against one)
    normal: float | None = None     # the camera's normal value of it (None: absolute threshold)

    def as_dict(self, config: VideoQualityConfig | None = None) -> dict:
        names = (config or default_thresholds()).checks[self.check]
        zh, en = VERDICTS[self.verdict]
        return {"check": self.check, "name_zh": names.name_zh, "name_en": names.name_en,
                "measure": self.measure or names.measure, "value": _round(self.score),
                "normal": _round(self.normal), "limit": round(self.threshold, 4),
                "limit_kind": "absolute" if self.normal is None else "camera_baseline",
                "fault_when": self.fault_when, "verdict": self.verdict, "verdict_zh": zh, "verdict_en": en,
                "note": self.note}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


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
             reference: "np.ndarray | Frame | None" = None, *, baseline: CameraBaseline | None = None,
             config: VideoQualityConfig | None = None) -> Diagnosis:
    """Diagnose a snapshot (BGR uint8, any size, or a Frame) against the camera's previous snapshot (frozen,
    jitter), its reference frame (scene_change, ptz_failure) and its baseline (every check with a relative limit);
    without them those checks are not assessed or keep their absolute limit. Pass Frames to reuse a reference
    across calls: its edge map is then computed once."""
    config = config or default_thresholds()
    frame, previous, reference = _frame(image), _frame(previous), _frame(reference)
    results: dict[str, CheckResult] = {}
    masked_by = MASKED_BY if baseline is None else MASKED_BY_BASELINE
    for name in CHECKS if baseline is None else ORDER_BASELINE:
        limit = config.checks[name]
        masks = ("signal_loss",) + masked_by.get(name, ()) if name != "signal_loss" else ()
        blocker = next((m for m in masks if results[m].verdict == "defect"), None)
        note = None
        if blocker:
            note = f"masked by {blocker}"
        elif name in ("frozen", "jitter") and previous is None:
            note = "no previous snapshot"
        elif name in ("scene_change", "ptz_failure") and reference is None:
            note = "no reference frame"
        results[name] = (CheckResult(name, None, limit.threshold, limit.fault_when, "not_assessed", note) if note
                         else _judge(name, limit, frame, previous, reference, baseline, config.baseline.k))
    return Diagnosis(tuple(results[name] for name in CHECKS))


def _judge(name: str, limit: CheckThreshold, frame: Frame, previous: Frame | None, reference: Frame | None,
           baseline: CameraBaseline | None, k: float) -> CheckResult:
    if name in ("jitter", "ptz_failure"):
        moved = checks.shift(frame, previous if name == "jitter" else reference)
        if moved.response < limit.min_response:
            return CheckResult(name, None, limit.threshold, limit.fault_when, "not_assessed",
                               f"no shift matches (phase correlation {moved.response:.2f} < {limit.min_response:g})")
        return _result(name, limit, moved.pixels, limit.threshold)
    if name == "frozen":
        score = checks.still_difference(frame, previous)
    elif name == "scene_change" and baseline is not None:
        return _view_changed(limit, frame, reference)
    elif name == "scene_change":
        score = checks.edge_agreement(frame, reference, reference.near_edges)
    elif baseline is None or limit.relative is None:
        score = _MEASURES[name](frame)
    else:
        measure = limit.relative.measure
        score = baseline_measure(frame, measure)
        normal, spread = baseline.normal[measure], baseline.spread[measure]
        return _result(name, limit, score, limit.limit_for(normal, spread, k), normal, _label(limit))
    if baseline is not None and limit.relative is not None:     # frozen: the limit follows the noise floor
        normal = baseline.normal[limit.relative.measure]
        return _result(name, limit, score, limit.limit_for(normal, 0.0, k), normal, _label(limit))
    return _result(name, limit, score, limit.threshold)


def _view_changed(limit: CheckThreshold, frame: Frame, reference: Frame) -> CheckResult:
    """scene_change against a baseline: few edges on the reference's and no shift that matches it either (a view
    under noise or stripes still matches at some shift; one that only moved was ptz_failure or jitter)."""
    score = checks.edge_agreement(frame, reference, reference.near_edges)
    match = checks.shift(frame, reference).response
    edges_off = limit.is_defect(score, limit.baseline_threshold)
    changed = edges_off and match < limit.min_response
    note = f"view still matches (phase correlation {match:.2f})" if edges_off and not changed else None
    return CheckResult("scene_change", score, limit.baseline_threshold, limit.fault_when,
                       "defect" if changed else "ok", note)


def _label(limit: CheckThreshold) -> str:
    return f"{limit.relative.measure_zh} / {limit.relative.measure}"


def _result(name: str, limit: CheckThreshold, score: float, threshold: float, normal: float | None = None,
            measure: str | None = None) -> CheckResult:
    return CheckResult(name, score, threshold, limit.fault_when,
                       "defect" if limit.is_defect(score, threshold) else "ok", None, measure, normal)
