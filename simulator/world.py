"""The simulated city: divisions with their shares, key places, junctions, profiles, and seeded randomness.

Every component draws from its own random stream, derived from the seed and the component's name, so adding a
component or changing one's draws never shifts another's output: the same seed gives byte-identical files.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from safecity.config.profiles import CONFIG_DIR, CityProfile, Division, load_city
from safecity.config.yamlfile import load_yaml, parse_model

SIMULATOR_DIR = CONFIG_DIR / "simulator"
KM_PER_DEGREE_LAT = 111.32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DivisionShare(_Strict):
    code: str
    camera_share: float = Field(gt=0)
    call_share: float = Field(gt=0)
    spread_km: float = Field(gt=0)


class Place(_Strict):
    id: str
    name_zh: str
    kind: str
    division: str
    lon: float
    lat: float
    weight: float = Field(gt=0)
    summer_factor: float = 1.0


class Junction(_Strict):
    id: str
    name_zh: str
    division: str
    lon: float
    lat: float
    peak_index: float = Field(ge=0, le=10)
    summer_factor: float = 1.0


class DispatchProfile(_Strict):
    dispatch_median_s: float = Field(gt=0)
    dispatch_sigma: float = Field(gt=0)
    travel_median_s: float = Field(gt=0)
    travel_sigma: float = Field(gt=0)


class SimulatorProfile(_Strict):
    city: str
    divisions: tuple[DivisionShare, ...]
    key_places: tuple[Place, ...]
    junctions: tuple[Junction, ...]
    traffic_hourly: tuple[float, ...] = Field(min_length=24, max_length=24)
    calls_hourly: tuple[float, ...] = Field(min_length=24, max_length=24)
    summer_months: tuple[int, ...]
    summer_beidaihe_factor: float = Field(ge=1)
    dispatch: dict[str, DispatchProfile]


class CatalogFaults(_Strict):
    malformed_id: float
    wrong_division_id: float
    unknown_type_code: float
    outside_city: float
    zero_coordinates: float
    missing_name: float
    duplicate: float
    truncated_line: float


class PassFaults(_Strict):
    bad_plate: float
    future_time: float
    duplicate: float
    late: float


class CallFaults(_Strict):
    out_of_order: float
    future_time: float
    outside_city: float
    unassigned: float


class SnapshotFaults(_Strict):
    defect: float


class EncodingFaults(_Strict):
    utf8_bom_share: float


class FaultRates(_Strict):
    catalog: CatalogFaults
    passes: PassFaults
    calls: CallFaults
    snapshots: SnapshotFaults
    encoding: EncodingFaults


def load_profile(city: str) -> SimulatorProfile:
    return parse_model(load_yaml(SIMULATOR_DIR / f"{city}.yaml"), SimulatorProfile)


def load_fault_rates(path: Path | None = None) -> FaultRates:
    return parse_model(load_yaml(path or SIMULATOR_DIR / "faults.yaml"), FaultRates)


@dataclass
class World:
    city: CityProfile
    profile: SimulatorProfile
    faults: FaultRates
    seed: int

    @classmethod
    def load(cls, city: str, seed: int, faults: Path | None = None) -> "World":
        return cls(load_city(city), load_profile(city), load_fault_rates(faults), seed)

    def rng(self, component: str) -> np.random.Generator:
        """The random stream of one named component: independent of every other component's draws."""
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, zlib.crc32(component.encode())])))

    @cached_property
    def divisions(self) -> dict[str, Division]:
        return {d.code: d for d in self.city.divisions}

    @cached_property
    def shares(self) -> dict[str, DivisionShare]:
        return {d.code: d for d in self.profile.divisions}

    def is_urban(self, division: str) -> bool:
        return self.divisions[division].urban

    def point_near(self, rng: np.random.Generator, lon: float, lat: float, spread_km: float) -> tuple[float, float]:
        """A point scattered around (lon, lat), kept inside the city's extent."""
        extent = self.city.extent
        km_per_lon = KM_PER_DEGREE_LAT * math.cos(math.radians(lat))
        for _ in range(20):
            x = lon + rng.normal(0, spread_km / 2) / km_per_lon
            y = lat + rng.normal(0, spread_km / 2) / KM_PER_DEGREE_LAT
            if extent.contains(x, y):
                return round(x, 6), round(y, 6)
        return round(lon, 6), round(lat, 6)

    def division_of(self, lon: float, lat: float) -> str:
        """The division whose centre is nearest: good enough to keep simulated records consistent."""
        def distance(d: Division) -> float:
            return (d.centre[0] - lon) ** 2 + ((d.centre[1] - lat) / math.cos(math.radians(lat))) ** 2
        return min(self.city.divisions, key=distance).code

    def summer(self, month: int) -> bool:
        return month in self.profile.summer_months
