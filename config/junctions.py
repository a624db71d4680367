"""The junctions the traffic command centre watches for congestion (重点路口), a file of the site beside its key
places: `<city folder>/junctions.yaml`. A detector of the registry counts for a junction when it stands within the
junction's `approach_m` (its approaches' detectors); the congestion readings are computed per junction from them
(analytics/congestion_events.py). A city without the file has no junction readings.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from safecity.config.profiles import LOCAL_CODE, CityProfile, city_folder
from safecity.config.places import check_places
from safecity.config.yamlfile import load_yaml, parse_model

JUNCTIONS_FILE = "junctions.yaml"


class Junction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name_zh: str
    name_en: str
    division: str = Field(pattern=LOCAL_CODE)
    lon: float
    lat: float
    approach_m: float = Field(gt=0, le=1000)


class Junctions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    junctions: list[Junction]


def load_junctions(city: CityProfile, directory: Path | None = None) -> list[Junction]:
    """The city's watched junctions, checked against its profile (a division of the city, a position inside its
    extent, one entry per id); none when the city has no file. Errors name the file, line and field."""
    path = (directory / city.id if directory else city_folder(city.id)) / JUNCTIONS_FILE
    if not path.exists():
        return []
    document = load_yaml(path)
    junctions = parse_model(document, Junctions).junctions
    check_places(document, junctions, city, "junctions")
    return junctions
