"""City and environment profiles: what the platform is pointed at, read from config/ and checked strictly.

A broken profile stops the platform with a message naming the file, the line and the key, never with a stack trace
from deep inside a library that received a bad value.
"""
from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.config.yamlfile import Located, YamlDocument, YamlFileError, load_yaml, parse_model

CONFIG_DIR = Path(__file__).parent
CITIES_DIR = CONFIG_DIR / "cities"
ENVIRONMENTS_DIR = CONFIG_DIR / "environments"
DEFAULT_HOME = "./var"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Extent(_Strict):
    min_lon: float = Field(ge=-180, le=180)
    max_lon: float = Field(ge=-180, le=180)
    min_lat: float = Field(ge=-90, le=90)
    max_lat: float = Field(ge=-90, le=90)

    @model_validator(mode="after")
    def _ordered(self) -> "Extent":
        if self.min_lon >= self.max_lon or self.min_lat >= self.max_lat:
            raise ValueError("min_lon/min_lat must be below max_lon/max_lat")
        return self

    def contains(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat


class Division(_Strict):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]
    name_zh: str
    name_en: str
    kind: Literal["district", "county"]
    urban: bool
    centre: tuple[float, float]
    area_km2: float | None = None


class CityProfile(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    province_zh: str
    gb2260: Annotated[str, Field(pattern=r"^\d{4}00$")]
    timezone: str
    plate_prefix: str
    extent: Extent
    grid_cell_m: int = Field(gt=0, le=10_000)
    divisions: list[Division] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _divisions_in_city(self) -> "CityProfile":
        prefix = self.gb2260[:4]
        outside = [d.code for d in self.divisions if not d.code.startswith(prefix)]
        if outside:
            raise ValueError(f"divisions {outside} do not belong to city {self.gb2260}")
        codes = [d.code for d in self.divisions]
        if len(set(codes)) != len(codes):
            raise ValueError("division codes must be unique")
        return self

    def division(self, code: str) -> Division | None:
        return next((d for d in self.divisions if d.code == code), None)


class LocalStorage(_Strict):
    kind: Literal["local"]


class S3Storage(_Strict):
    kind: Literal["s3"]
    endpoint_env: str
    bucket: str
    secure: bool = False
    access_key_env: str
    secret_key_env: str


class SqliteCatalog(_Strict):
    kind: Literal["sqlite"]


class PostgresCatalog(_Strict):
    kind: Literal["postgresql"]
    url_env: str


class KafkaSettings(_Strict):
    bootstrap_servers_env: str


_ENV_NAME = r"^[A-Z][A-Z0-9_]*$"


class EnvironmentProfile(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description_zh: str = ""
    city: str
    storage: Annotated[LocalStorage | S3Storage, Field(discriminator="kind")]
    catalog: Annotated[SqliteCatalog | PostgresCatalog, Field(discriminator="kind")]
    kafka: KafkaSettings | None = None

    @model_validator(mode="after")
    def _env_names(self) -> "EnvironmentProfile":
        # Secrets come only from the environment: every *_env key must name a variable, not hold a value.
        for section in (self.storage, self.catalog, self.kafka):
            for key, value in (section.model_dump() if section else {}).items():
                if key.endswith("_env") and not re.match(_ENV_NAME, value):
                    raise ValueError(f"{key} must name an environment variable (A-Z, 0-9, _), got {value!r}")
        return self


def _document(directory: Path, name: str, what: str) -> YamlDocument:
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise YamlFileError([Located(str(path), None, "", "E_PROFILE", f"no {what} profile {name!r}; known: {known}")])
    return load_yaml(path)


def load_city(name: str, directory: Path = CITIES_DIR) -> CityProfile:
    return parse_model(_document(directory, name, "city"), CityProfile)


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> tuple[EnvironmentProfile, YamlDocument]:
    document = _document(directory, name, "environment")
    return parse_model(document, EnvironmentProfile), document


@dataclass(frozen=True)
class StatePaths:
    """Where the embedded state lives; every path is under one home folder so that it can be moved or deleted."""

    home: Path

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def warehouse(self) -> Path:
        return self.home / "lakehouse"

    @property
    def catalog_db(self) -> Path:
        return self.home / "lakehouse" / "catalog.sqlite"

    @property
    def duckdb_file(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def duckdb_extensions(self) -> Path:
        return self.home / "duckdb_extensions"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def dbt_target(self) -> Path:
        return self.home / "dbt" / "target"


@dataclass(frozen=True)
class Settings:
    environment: EnvironmentProfile
    city: CityProfile
    paths: StatePaths
    _document: YamlDocument
    # Secrets already resolved by the caller (Dagster resources configured from EnvVar), by profile pointer;
    # what is missing here is read from the environment variable the profile names.
    secrets: Mapping[str, str] = field(default_factory=dict)

    def secret_variables(self) -> dict[str, str]:
        """{pointer: environment variable} of every secret the profile reads (e.g. /storage/access_key_env)."""
        found = {}
        for section in ("storage", "catalog", "kafka"):
            part = getattr(self.environment, section, None)
            for key, value in (part.model_dump() if part is not None else {}).items():
                if key.endswith("_env") and value:
                    found[f"/{section}/{key}"] = value
        return found

    def secret(self, pointer: str) -> str:
        """The value of the environment variable named at `pointer` (for example /catalog/url_env)."""
        if self.secrets.get(pointer):
            return self.secrets[pointer]
        section, key = pointer.strip("/").split("/")
        variable = getattr(getattr(self.environment, section), key)
        value = os.environ.get(variable)
        if not value:
            raise YamlFileError([self._document.problem(
                pointer, "E_ENV", f"environment variable {variable} is not set (the profile reads it for {key[:-4]})")])
        return value

    @cached_property
    def catalog_uri(self) -> str:
        if isinstance(self.environment.catalog, PostgresCatalog):
            return self.secret("/catalog/url_env")
        return f"sqlite:///{self.paths.catalog_db}"

    @cached_property
    def warehouse_uri(self) -> str:
        if isinstance(self.environment.storage, S3Storage):
            return f"s3://{self.environment.storage.bucket}/lakehouse"
        return self.paths.warehouse.resolve().as_uri()


def load_settings(environment: str | None = None, home: str | Path | None = None,
                  secrets: Mapping[str, str] | None = None) -> Settings:
    """The settings in force: profile from SAFECITY_ENV (default local), state folder from SAFECITY_HOME; `secrets`
    ({profile pointer: value}) stand in for the environment variables the profile names."""
    name = environment or os.environ.get("SAFECITY_ENV", "local")
    profile, document = load_environment(name)
    try:
        city = load_city(profile.city)
    except YamlFileError as exc:
        if any(p.code == "E_PROFILE" for p in exc.problems):
            raise YamlFileError([document.problem("/city", "E_PROFILE", str(exc.problems[0].message))]) from None
        raise
    root = Path(home or os.environ.get("SAFECITY_HOME") or DEFAULT_HOME).expanduser().resolve()
    return Settings(profile, city, StatePaths(root), document, dict(secrets or {}))
