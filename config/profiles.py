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

from safecity.config.site import CONFIG_DIR, Site, activate_site, current_site, default_site, load_site
from safecity.config.yamlfile import Located, YamlDocument, YamlFileError, load_yaml, parse_model

# The default site's folders (the shipped Qinhuangdao profile); other sites are found through safecity.config.site.
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


_GB2260 = re.compile(r"^\d{6}$")
# A local code (outside China): a stable identifier the profile declares, e.g. a ward or council-area code. Letters,
# digits and _ only: a division's code names its row-scope schema (scope_<code>) in gold.
LOCAL_CODE = r"^[A-Za-z0-9][A-Za-z0-9_]{0,31}$"
# The reference systems a city's own coordinates may be given in besides EPSG codes (Chinese map services).
_CRS = re.compile(r"^(EPSG:\d{4,6}|GCJ-02|BD-09)$")


class Division(_Strict):
    code: Annotated[str, Field(pattern=LOCAL_CODE)]
    name_zh: str
    name_en: str
    kind: Literal["district", "county", "ward", "borough", "council_area", "area"]
    urban: bool
    centre: tuple[float, float]
    area_km2: float | None = None


class CityProfile(_Strict):
    """A city anywhere: its division codes are GB/T 2260 (`code_system: gb2260`, the city's code in `gb2260`) or a
    stable local code system the profile declares (`code_system: local`, the city's code in `code`)."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    province_zh: str = ""
    code_system: Literal["gb2260", "local"] = "gb2260"
    gb2260: Annotated[str, Field(pattern=r"^\d{4}00$")] | None = None
    code: Annotated[str, Field(pattern=LOCAL_CODE)] | None = None
    timezone: str
    # The reference system of the city's positions (extent, centres, key places are WGS-84 lon/lat whatever it is):
    # what the city's exports use unless a mapping says otherwise.
    crs: str = "EPSG:4326"
    plate_prefix: str = ""
    extent: Extent
    grid_cell_m: int = Field(gt=0, le=10_000)
    divisions: list[Division] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_city_code(cls, data):
        # `code` is the city's code whatever its system; a GB/T 2260 profile writes it as `gb2260`.
        if isinstance(data, dict) and data.get("code_system", "gb2260") == "gb2260" and data.get("gb2260"):
            data = {**data, "code": data.get("code") or data["gb2260"]}
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        if not _CRS.match(value):
            raise ValueError(f"crs must be EPSG:<code>, GCJ-02 or BD-09, got {value!r}")
        return value

    @model_validator(mode="after")
    def _divisions_in_city(self) -> "CityProfile":
        codes = [d.code for d in self.divisions]
        if len(set(codes)) != len(codes):
            raise ValueError("division codes must be unique")
        if self.code_system == "local":
            if not self.code:
                raise ValueError("code_system local: give the city's own code in `code`")
            return self
        if not self.gb2260:
            raise ValueError("code_system gb2260: give the city's GB/T 2260 code in `gb2260` (or declare "
                             "code_system: local for a city outside China)")
        malformed = [c for c in codes if not _GB2260.match(c)]
        outside = [c for c in codes if c not in malformed and not c.startswith(self.gb2260[:4])]
        if malformed:
            raise ValueError(f"divisions {malformed} are not GB/T 2260 codes (six digits); a city outside China "
                             f"declares code_system: local")
        if outside:
            raise ValueError(f"divisions {outside} do not belong to city {self.gb2260}")
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
    # The city's id, or a path to its city file (relative to this file); left out, the site's city.
    city: str | None = None
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


def _document(directory: Path, name: str, what: str, base: Path | None = None) -> YamlDocument:
    """The profile `name` in `directory`, or `name` itself when it is a path to a YAML file (relative to `base`)."""
    given = Path(name).expanduser()
    if _is_path(name):
        path = given if given.is_absolute() or base is None else base / given
        if not path.is_file():
            raise YamlFileError([Located(str(path), None, "", "E_PROFILE", f"no {what} profile file {str(path)!r}")])
        return load_yaml(path)
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise YamlFileError([Located(str(path), None, "", "E_PROFILE", f"no {what} profile {name!r}; known: {known}")])
    return load_yaml(path)


def city_file(name: str, site: Site | None = None) -> Path:
    """Where the city `name` of the site is: its city.yaml (site folder) or config/cities/<name>.yaml (default)."""
    site = site or current_site()
    if site.default or name != site.city:
        return (CITIES_DIR if site.default else site.root / "cities") / f"{name}.yaml"
    return site.city_file


def city_folder(name: str, site: Site | None = None) -> Path:
    """The folder of the city's own files (key places, point levels, codes/)."""
    site = site or current_site()
    return site.city_dir if name == site.city else CITIES_DIR / name


def _is_path(name: str) -> bool:
    given = Path(name)
    return given.suffix in {".yaml", ".yml"} or len(given.parts) > 1


def load_city(name: str, directory: Path | None = None, *, base: Path | None = None) -> CityProfile:
    """The city `name`: an id of the current site (or of `directory`), or a path to a city file (relative to
    `base`, the folder of the environment profile that names it)."""
    if directory is not None or _is_path(name):
        return parse_model(_document(directory or CITIES_DIR, name, "city", base), CityProfile)
    path = city_file(name)
    document = _document(path.parent, path.stem, "city")
    city = parse_model(document, CityProfile)
    if city.id != name:
        raise YamlFileError([document.problem("/id", "E_PROFILE", f"the site's city is {name!r}, the file says "
                                                                   f"{city.id!r}; make them the same")])
    return city


def load_environment(name: str, directory: Path | None = None) -> tuple[EnvironmentProfile, YamlDocument]:
    """The environment profile `name` of the current site, or the profile file at the path `name`."""
    document = _document(directory or current_site().environments_dir, name, "environment")
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
    site: Site = field(default_factory=default_site)
    # Secrets already resolved by the caller (Dagster resources configured from EnvVar), by profile pointer;
    # what is missing here is read from the environment variable the profile names.
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def environment_file(self) -> Path:
        return self._document.path

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
                  secrets: Mapping[str, str] | None = None, site: str | Path | Site | None = None) -> Settings:
    """The settings in force: the site from `site` (else $SAFECITY_SITE, else the default), its environment profile
    `environment` (a name or a path; else $SAFECITY_ENV, else the site's default), the state folder from
    SAFECITY_HOME; `secrets` ({profile pointer: value}) stand in for the environment variables the profile names.
    A site given here becomes the process's site (see safecity.config.site)."""
    if site is not None:
        activate_site(site if isinstance(site, Site) else load_site(site))
    chosen = current_site()
    name = environment or os.environ.get("SAFECITY_ENV") or chosen.default_environment
    profile, document = load_environment(name)
    try:
        city = load_city(profile.city or chosen.city, base=document.path.parent)
    except YamlFileError as exc:
        if any(p.code == "E_PROFILE" for p in exc.problems):
            raise YamlFileError([document.problem("/city", "E_PROFILE", str(exc.problems[0].message))]) from None
        raise
    root = Path(home or os.environ.get("SAFECITY_HOME") or DEFAULT_HOME).expanduser().resolve()
    return Settings(profile, city, StatePaths(root), document, chosen, dict(secrets or {}))
