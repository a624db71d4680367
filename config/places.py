"""The checks every list of places of a site file gets against the city profile (key places, watched junctions):
a division of the city, a position inside its extent, one entry per id. Errors name the file, line and field."""
from __future__ import annotations

from typing import Sequence

from safecity.config.profiles import CityProfile
from safecity.config.yamlfile import YamlFileError


def check_places(document, places: Sequence, city: CityProfile, section: str) -> None:
    """Raise YamlFileError with every problem of `places` (items with id, division, lon, lat) found under
    `/<section>/<index>` of `document`."""
    problems, seen = [], set()
    for index, place in enumerate(places):
        pointer = f"/{section}/{index}"
        if city.division(place.division) is None:
            problems.append(document.problem(f"{pointer}/division", "E_CODE",
                                             f"{place.division} is not a division of {city.name_en}"))
        if not city.extent.contains(place.lon, place.lat):
            problems.append(document.problem(f"{pointer}/lon", "E_OUT_OF_AREA",
                                             f"({place.lon}, {place.lat}) is outside the city's extent"))
        if place.id in seen:
            problems.append(document.problem(f"{pointer}/id", "E_DUPLICATE_KEY", f"{place.id} is listed twice"))
        seen.add(place.id)
    if problems:
        raise YamlFileError(problems)
