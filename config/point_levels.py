"""The city's rules for a camera point's level (key / important / normal: standards/codes/point_level.yaml), read
from the site's point_levels.yaml (config/cities/<city>/point_levels.yaml in the default site) and rendered as one SQL expression."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from safecity.config.profiles import city_folder
from safecity.config.yamlfile import load_yaml, parse_model

LEVELS = ("key", "important")


class PointRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    use_type: tuple[str, ...] = ()
    position_type: tuple[str, ...] = ()


class PointLevels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: PointRule = PointRule()
    important: PointRule = PointRule()


def load_point_levels(city: str, directory: Path | None = None) -> PointLevels:
    path = (directory / city if directory else city_folder(city)) / "point_levels.yaml"
    return parse_model(load_yaml(path), PointLevels) if path.exists() else PointLevels()


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})" if values else "FALSE"


def point_level_sql(levels: PointLevels, use_type: str, position_type: str) -> str:
    branches = " ".join(
        f"WHEN {_in(use_type, rule.use_type)} OR {_in(position_type, rule.position_type)} THEN '{name}'"
        for name, rule in ((n, getattr(levels, n)) for n in LEVELS))
    return f"CASE {branches} ELSE 'normal' END"
