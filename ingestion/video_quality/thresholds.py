"""The VQD thresholds of config/video_quality.yaml, read strictly: a bad file names its line and key."""
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.yamlfile import YamlFileError, did_you_mean, load_yaml, parse_model

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "video_quality.yaml"
# In the order diagnose() takes them: a check further down may be masked by one above it.
CHECKS = ("signal_loss", "frozen", "too_dark", "too_bright", "noise", "stripes", "colour_cast", "blur", "occlusion",
          "scene_change")
VERDICTS = {"ok": ("正常", "ok"), "defect": ("异常", "defect"), "not_assessed": ("无法判定", "not assessed")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckThreshold(_Strict):
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    measure: Annotated[str, Field(min_length=1)]
    fault_when: Literal["below", "above"]
    threshold: float

    def is_defect(self, score: float) -> bool:
        return score < self.threshold if self.fault_when == "below" else score > self.threshold


class VideoQualityConfig(_Strict):
    confirm_after: Annotated[int, Field(ge=1, le=100)]
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


__all__ = ["CHECKS", "VERDICTS", "CheckThreshold", "VideoQualityConfig", "YamlFileError", "default_thresholds",
           "load_thresholds"]
