"""The variables every dbt invocation gets: what the models need from the standards, the city profile and the
scorecard configuration, read from their YAML files at run time so the SQL never carries a copy of them.

- `divisions`: code, urban flag and land area (km²) of each division of the city profile;
- `city_code`, `grid_cell_m`, `extent`: the city's GB/T 2260 code and the hotspot grid;
- `code_attributes`: {table: {code: attributes}} for the code tables whose attributes the models compute with
  (congestion grades and their 0–10 bounds, road classes and their speed thresholds, camera states);
- `scorecard`: the indicators with weights and targets (config/scorecard.yaml).
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.profiles import CONFIG_DIR, Settings
from safecity.config.yamlfile import load_yaml, parse_model
from safecity.standards.catalogue import load_catalogue

SCORECARD_FILE = CONFIG_DIR / "scorecard.yaml"
CODE_TABLES = ("congestion_grade", "road_class", "camera_state")
INDICATORS = ("hd_ratio", "online_rate", "intact_rate", "networking_rate", "data_conformance_rate",
              "response_within_target")


class Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Literal[INDICATORS]  # type: ignore[valid-type]
    name_zh: str
    name_en: str
    weight: float = Field(gt=0, le=100)
    target: float = Field(gt=0, le=1)


class Scorecard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name_zh: str
    name_en: str
    indicators: list[Indicator]

    @model_validator(mode="after")
    def _weights_make_100(self):
        total = sum(i.weight for i in self.indicators)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"weights add up to {total:g}, not 100")
        if len({i.id for i in self.indicators}) != len(self.indicators):
            raise ValueError("an indicator is listed twice")
        return self


def load_scorecard(path=SCORECARD_FILE) -> Scorecard:
    return parse_model(load_yaml(path), Scorecard)


def dbt_vars(settings: Settings) -> dict:
    city = settings.city
    catalogue = load_catalogue(city.id)
    return {
        "city_code": city.gb2260,
        "grid_cell_m": city.grid_cell_m,
        "extent": city.extent.model_dump(),
        "divisions": [{"code": d.code, "urban": d.urban, "area_km2": d.area_km2} for d in city.divisions],
        "code_attributes": {t: {c.code: dict(c.attributes or {}) for c in catalogue.code_tables[t].codes}
                            for t in CODE_TABLES},
        "scorecard": [i.model_dump() for i in load_scorecard().indicators],
    }


def dbt_vars_arg(settings: Settings) -> list[str]:
    """`--vars` and its JSON, for a dbt command line."""
    return ["--vars", json.dumps(dbt_vars(settings), ensure_ascii=False)]
