"""The standards catalogue: entities, data elements, code tables and events, read from the YAML in standards/.

Everything that checks or describes data is derived from this one object: the vectorised validator, the Arrow and
Iceberg schemas, the rule engine's event catalogue and the data dictionary. A change to a standard is a change to
one YAML file.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.profiles import CityProfile, load_city
from safecity.config.yamlfile import YamlFileError, load_yaml, parse_model

STANDARDS_DIR = Path(__file__).parent
ElementType = Literal["string", "integer", "number", "boolean", "timestamp"]
Sensitivity = Literal["public", "internal", "sensitive", "secret"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    code: str
    name_zh: str
    name_en: str
    group: str | None = None
    editions: tuple[str, ...] | None = None


class CodeTable(_Strict):
    id: str
    name_zh: str
    name_en: str
    standard: str
    confidence: Literal["H", "M", "L"]
    note_zh: str | None = None
    codes: tuple[Code, ...] = Field(min_length=1)

    def codes_set(self) -> frozenset[str]:
        return frozenset(c.code for c in self.codes)

    def label_zh(self, code: str) -> str | None:
        return next((c.name_zh for c in self.codes if c.code == code), None)


class Derivation(_Strict):
    """A value cut out of another element (1-based start, as the standards count digits)."""

    from_: str = Field(alias="from")
    start: int = Field(ge=1)
    length: int = Field(ge=1)


class Element(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    type: ElementType
    required: bool = False
    pattern: str | None = None
    max_length: int | None = Field(default=None, ge=1)
    code_table: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    sensitivity: Sensitivity
    source: str
    description_zh: str | None = None
    derive: Derivation | None = None


class Entity(_Strict):
    entity: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    standard: str
    key: tuple[str, ...] = Field(min_length=1)
    in_area: dict[Literal["longitude", "latitude"], str] | None = None
    elements: tuple[Element, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> "Entity":
        ids = [e.id for e in self.elements]
        if len(set(ids)) != len(ids):
            raise ValueError("element ids must be unique")
        missing = [k for k in self.key if k not in ids]
        missing += [e.derive.from_ for e in self.elements if e.derive and e.derive.from_ not in ids]
        missing += [v for v in (self.in_area or {}).values() if v not in ids]
        if missing:
            raise ValueError(f"unknown elements referenced: {missing}")
        return self

    def element(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.id == element_id)


class EventType(_Strict):
    event: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    entity: str
    time_field: str | None = None


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    city: CityProfile
    entities: dict[str, Entity]
    code_tables: dict[str, CodeTable]
    events: dict[str, EventType]

    def event_fields(self, event: str) -> tuple[Element, ...]:
        """The fields an event carries: those of the entity it is derived from."""
        return self.entities[self.events[event].entity].elements


def _city_divisions(city: CityProfile) -> CodeTable:
    return CodeTable(
        id="city_divisions", name_zh=f"{city.name_zh}行政区划", name_en=f"{city.name_en} divisions",
        standard="GB/T 2260 (city profile)", confidence="H",
        codes=tuple(Code(code=d.code, name_zh=d.name_zh, name_en=d.name_en) for d in city.divisions),
    )


def _load_folder(folder: Path, model: type[BaseModel]) -> list:
    items, problems = [], []
    for path in sorted(folder.glob("*.yaml")):
        try:
            items.append(parse_model(load_yaml(path), model))
        except YamlFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise YamlFileError(problems)
    return items


@lru_cache(maxsize=4)
def load_catalogue(city: str = "qinhuangdao") -> Catalogue:
    profile = load_city(city)
    tables = {t.id: t for t in _load_folder(STANDARDS_DIR / "codes", CodeTable)}
    tables["city_divisions"] = _city_divisions(profile)
    entities = {e.entity: e for e in _load_folder(STANDARDS_DIR / "entities", Entity)}
    events = {e.event: e for e in _load_folder(STANDARDS_DIR / "events", EventType)}
    unknown = [(e.entity, el.code_table) for e in entities.values() for el in e.elements
               if el.code_table and el.code_table not in tables]
    unknown += [(ev.event, ev.entity) for ev in events.values() if ev.entity not in entities]
    if unknown:
        raise ValueError(f"standards reference unknown code tables or entities: {unknown}")
    return Catalogue(city=profile, entities=entities, code_tables=tables, events=events)
