"""The VQD thresholds of config/video_quality.yaml, read strictly: a bad file names its line and key."""
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.yamlfile import YamlFileError, did_you_mean, load_yaml, parse_model

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "video_quality.yaml"
# In the order diagnose() takes them: a check further down may be masked by one above it.
CHECKS = ("signal_loss", "frozen", "too_dark", "too_bright", "low_contrast", "noise", "stripes", "blur", "occlusion",
          "colour_cast", "ptz_failure", "jitter", "scene_change")
VERDICTS = {"ok": ("正常", "ok"), "defect": ("异常", "defect"), "not_assessed": ("无法判定", "not assessed")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Relative(_Strict):
    """The limit against the camera's own normal (its baseline median) and spread (1.4826 x MAD):
    limit = normal x scale + offset, widened to normal -/+ k x spread where the camera varies more (spread: false
    for a measure whose spread says nothing of the limit), and kept at or beyond `cap` (a physical bound)."""
    measure: Annotated[str, Field(min_length=1)]     # baseline measure (baseline.MEASURES)
    measure_zh: Annotated[str, Field(min_length=1)]
    scale: float = 1.0
    offset: float = 0.0
    spread: bool = True
    cap: float | None = None


class CheckThreshold(_Strict):
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    measure: Annotated[str, Field(min_length=1)]
    fault_when: Literal["below", "above"]
    threshold: float                                # absolute limit: a camera without a baseline, or physics
    relative: Relative | None = None                # limit against the camera's baseline, when it has one
    min_response: float | None = None               # jitter, ptz_failure: weakest phase-correlation match trusted
    baseline_threshold: float | None = None         # scene_change with a baseline: edge agreement limit when no
                                                    # shift matches the reference

    def is_defect(self, score: float, limit: float | None = None) -> bool:
        limit = self.threshold if limit is None else limit
        return score < limit if self.fault_when == "below" else score > limit

    def limit_for(self, normal: float, spread: float, k: float) -> float:
        """The relative limit for a camera whose normal value is `normal` with robust spread `spread`."""
        rel = self.relative
        limit = normal * rel.scale + rel.offset
        if self.fault_when == "below":
            limit = min(limit, normal - k * spread) if rel.spread else limit
            return max(limit, rel.cap) if rel.cap is not None else limit
        limit = max(limit, normal + k * spread) if rel.spread else limit
        return min(limit, rel.cap) if rel.cap is not None else limit


class BaselineSettings(_Strict):
    k: Annotated[float, Field(gt=0)]                    # spreads (1.4826 x MAD) a value may lie from the normal
    min_snapshots: Annotated[int, Field(ge=1)]          # good snapshots before a baseline is used
    keep: Annotated[int, Field(ge=1)]                   # recent good snapshots a baseline is learned from


class VideoQualityConfig(_Strict):
    confirm_after: Annotated[int, Field(ge=1, le=100)]
    baseline: BaselineSettings
    checks: dict[str, CheckThreshold]

    @model_validator(mode="after")
    def _every_check_once(self) -> "VideoQualityConfig":
        unknown = [name for name in self.checks if name not in CHECKS]
        if unknown:
            hint = did_you_mean(unknown[0], CHECKS)
            raise ValueError(f"unknown check {unknown[0]!r}" + (f" ({hint})" if hint else f"; known: {', '.join(CHECKS)}"))
        missing = [name for name in CHECKS if name not in self.checks]
        if missing:
            raise ValueError(f"missing check(s): {', '.join(missing)}")
        return self


def load_thresholds(path: str | Path | None = None) -> VideoQualityConfig:
    """Read and check a thresholds file (default: config/video_quality.yaml). Raises YamlFileError."""
    return parse_model(load_yaml(path or CONFIG_FILE), VideoQualityConfig)


@lru_cache(maxsize=1)
def default_thresholds() -> VideoQualityConfig:
    return load_thresholds(CONFIG_FILE)


__all__ = ["CHECKS", "VERDICTS", "BaselineSettings", "CheckThreshold", "Relative",
           "VideoQualityConfig", "YamlFileError", "default_thresholds",
           "load_thresholds"]
