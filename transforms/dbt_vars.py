"""The variables every dbt invocation gets: what the models need from the standards, the city profile and the
scorecard configuration, read from their YAML files at run time so the SQL never carries a copy of them.

- `divisions`: code, urban flag and land area (km²) of each division of the city profile;
- `city_code`: the city's code (GB/T 2260, or the local code its profile declares);
- `city_timezone`: the city's IANA zone, in which every mart counts its days and hours;
- `grid_cell_sql`: the city grid's cell expression (config/grid.py `cell_sql`) over the placeholders `__lon__` and
  `__lat__`, which the `grid_cell` macro replaces: the arithmetic of a cell exists once, in config/grid.py;
- `key_places`: the city's key places with their coverage radius (the site's key_places.yaml);
- `code_attributes`: {table: {code: attributes}} for the code tables whose attributes the models compute with
  (congestion grades and their 0–10 bounds, road classes and their speed thresholds, camera states);
- `scorecard`: the indicators with weights and targets (the site's scorecard.yaml, else the shipped one);
- `point_level_sql`: a camera point's level (key / important / normal) over the registry columns use_type and
  position_type, from the site's point_levels.yaml (config/point_levels.py), as the camera events grade it;
- `network_outage_episodes_sql`: which down stays of a network element are one outage (config/network_outages.py)
  over the placeholder relation `__down__`, as the network_outage events count them.
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.grid import cell_sql
from safecity.config.profiles import LOCAL_CODE, CityProfile, Settings, city_folder
from safecity.config.site import default_site
from safecity.config.places import check_places
from safecity.config.network_outages import outage_episodes_sql
from safecity.config.point_levels import load_point_levels, point_level_sql
from safecity.config.yamlfile import load_yaml, parse_model
from safecity.standards.catalogue import load_catalogue
from safecity.standards.congestion import congestion_grade_sql, congestion_index_sql

SCORECARD_FILE = default_site().scorecard_file
CODE_TABLES = ("congestion_grade", "road_class", "camera_state", "camera_install_status")
INDICATORS = ("key_place_coverage", "hd_ratio", "online_rate", "intact_rate", "networking_rate", "data_conformance_rate",
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


class KeyPlace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    kind: Literal["railway_station", "airport", "port", "scenic_spot", "beach", "square", "hospital", "school",
                  "government"]
    division: str = Field(pattern=LOCAL_CODE)
    lon: float
    lat: float
    radius_m: float = Field(gt=0, le=2000)


class KeyPlaces(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    places: list[KeyPlace]


def load_key_places(city: CityProfile, directory=None) -> list[KeyPlace]:
    """The city's key places (the site's key_places.yaml), checked against its profile (a division of the city, a
    position inside its extent, one entry per id); none when the city has no list."""
    path = (directory / city.id if directory else city_folder(city.id)) / "key_places.yaml"
    if not path.exists():
        return []
    document = load_yaml(path)
    places = parse_model(document, KeyPlaces).places
    check_places(document, places, city, "places")
    return places


def _scorecard_file(settings: Settings):
    # A site without its own scorecard scores with the shipped one.
    own = settings.site.scorecard_file
    return own if own.exists() else SCORECARD_FILE


def dbt_vars(settings: Settings) -> dict:
    city = settings.city
    catalogue = load_catalogue(city.id)
    return {
        "city_code": city.code,
        "city_timezone": city.timezone,
        "grid_cell_sql": cell_sql(city, "__lon__", "__lat__"),
        "congestion_index_sql": congestion_index_sql(catalogue, "__speed__", "__road_class__"),
        "congestion_grade_sql": congestion_grade_sql(catalogue, "__index__"),
        "key_places": [p.model_dump() for p in load_key_places(city)],
        "divisions": [{"code": d.code, "urban": d.urban, "area_km2": d.area_km2} for d in city.divisions],
        "code_attributes": {t: {c.code: dict(c.attributes or {}) for c in catalogue.code_tables[t].codes}
                            for t in CODE_TABLES},
        "scorecard": [i.model_dump() for i in load_scorecard(_scorecard_file(settings)).indicators],
        "point_level_sql": point_level_sql(load_point_levels(city.id), "use_type", "position_type"),
        "network_outage_episodes_sql": outage_episodes_sql("__down__"),
    }
