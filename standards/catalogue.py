"""The standards catalogue: entities, data elements, code tables and events, read from the YAML in standards/.

Everything that checks or describes data is derived from this one object: the vectorised validator, the Arrow and
Iceberg schemas, the rule engine's event catalogue and the data dictionary. A change to a standard is a change to
one YAML file.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.profiles import CityProfile, city_folder, current_site, load_city
from safecity.config.yamlfile import YamlFileError, load_yaml, parse_model

STANDARDS_DIR = Path(__file__).parent
ElementType = Literal["string", "integer", "number", "boolean", "timestamp"]
Sensitivity = Literal["public", "internal", "sensitive", "secret"]
Confidence = Literal["H", "M", "L"]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    code: str
    name_zh: str
    name_en: str
    group: str | None = None
    # Editions of the standard in which the code has this meaning; None means every edition.
    editions: tuple[str, ...] | None = None
    # Further facts of a code (an emergency level's colour, a grade's index range), for marts and the dictionary.
    attributes: dict[str, str | int | float] = Field(default_factory=dict)


class CodeTable(_Strict):
    id: Annotated[str, Field(pattern=IDENTIFIER)]
    name_zh: str
    name_en: str
    standard: str
    confidence: Confidence
    note_zh: str | None = None
    note_en: str | None = None
    # A table the city may replace with its own (config/cities/<city>/codes/<id>.yaml), e.g. where no national
    # table exists or where sources disagree.
    replaceable: bool = False
    codes: tuple[Code, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_per_edition(self) -> "CodeTable":
        seen: set[tuple[str, str | None]] = set()
        for code in self.codes:
            for edition in code.editions or (None,):
                if (code.code, edition) in seen:
                    raise ValueError(f"code {code.code!r} appears twice for edition {edition}")
                seen.add((code.code, edition))
        return self

    @property
    def editions(self) -> tuple[str, ...]:
        return tuple(sorted({e for c in self.codes for e in (c.editions or ())}))

    def codes_set(self, edition: str | None = None) -> frozenset[str]:
        """The codes valid in `edition` (every code when no edition is given)."""
        return frozenset(c.code for c in self.codes
                         if edition is None or c.editions is None or edition in c.editions)

    def lookup(self, code: str, edition: str | None = None) -> Code | None:
        return next((c for c in self.codes if c.code == code and
                     (edition is None or c.editions is None or edition in c.editions)), None)

    def label_zh(self, code: str, edition: str | None = None) -> str | None:
        found = self.lookup(code, edition)
        return found.name_zh if found else None


class FormatPart(_Strict):
    name_zh: str
    name_en: str
    code_table: str | None = None
    # A timestamp part is checked as a real date and time written with `timestamp_format` (strftime codes).
    timestamp_format: str | None = None


class InvalidExample(_Strict):
    value: str
    why: str


class FormatExamples(_Strict):
    valid: tuple[str, ...] = ()
    invalid: tuple[InvalidExample, ...] = ()
    source: str | None = None


class Format(_Strict):
    """A value format (an ID scheme, a plate number): a regular expression whose named groups are its parts."""

    id: Annotated[str, Field(pattern=IDENTIFIER)]
    name_zh: str
    name_en: str
    standard: str
    confidence: Confidence
    pattern: str
    parts: dict[str, FormatPart] = Field(default_factory=dict)
    note_zh: str | None = None
    examples: FormatExamples = FormatExamples()

    @model_validator(mode="after")
    def _parts_are_groups(self) -> "Format":
        try:
            groups = set(re.compile(self.pattern).groupindex)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        unknown = set(self.parts) - groups
        if unknown:
            raise ValueError(f"parts {sorted(unknown)} are not named groups of the pattern")
        return self

    def group_index(self, part: str) -> int:
        return re.compile(self.pattern).groupindex[part]


class Derivation(_Strict):
    """A value cut out of another element: a named part of its format, or (1-based) characters."""

    from_: str = Field(alias="from")
    part: str | None = None
    start: int | None = Field(default=None, ge=1)
    length: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_way(self) -> "Derivation":
        if (self.part is None) == (self.start is None or self.length is None):
            raise ValueError("give either part, or start and length")
        return self


class Element(_Strict):
    id: Annotated[str, Field(pattern=IDENTIFIER)]
    name_zh: str
    name_en: str
    type: ElementType
    required: bool = False
    format: str | None = None
    pattern: str | None = None
    max_length: int | None = Field(default=None, ge=1)
    code_table: str | None = None
    # The element holding the edition of the standard the code is written in (edition-dependent code tables).
    edition_from: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    # Timestamps later than the time of checking (plus the allowed clock skew) are rejected.
    not_future: bool = False
    # The value the standard implies when a record leaves the element out.
    default: str | None = None
    unit: str | None = None
    sensitivity: Sensitivity
    source: str
    confidence: Confidence = "H"
    description_zh: str | None = None
    description_en: str | None = None
    derive: Derivation | None = None


class Entity(_Strict):
    entity: Annotated[str, Field(pattern=IDENTIFIER)]
    name_zh: str
    name_en: str
    standard: str
    description_zh: str | None = None
    key: tuple[str, ...] = Field(min_length=1)
    # The event time of a record: what daily partitions and windows use.
    time_field: str | None = None
    # High-volume facts are stored in daily partitions of their time field.
    partition: Literal["day"] | None = None
    # Records the source sends again whenever they change (a registry, a call whose dispatch chain grows): silver
    # keeps every version and the latest wins downstream. Otherwise a record is an event: its key is unique for
    # good, and a key already in silver is a recorded duplicate.
    updates: bool = False
    # The element that orders the versions of a record that `updates` (its update time): two rows of one key in
    # one batch with different values here are two versions (both kept, the latest wins); without it, or with
    # the same value, different rows of one key are a key collision.
    version_field: str | None = None
    in_area: dict[Literal["longitude", "latitude"], str] | None = None
    # Timestamps that must not go backwards, in order (a 110 call is received, then dispatched, then arrived...).
    sequences: tuple[tuple[str, ...], ...] = ()
    # No timestamp of the entity is earlier than this day (local time): an earlier one is a range error (a 1900 or
    # year-0001 date is a placeholder or a broken clock, never a record of the bureau's systems).
    time_floor: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] = "1970-01-01"
    # Soft checks: the entity checks that only flag the field they find implausible (it is left out of the figures
    # it would distort) instead of rejecting the record; every other check rejects. E_PLACEHOLDER_POSITION (0/0)
    # is checked only where listed here (elsewhere 0/0 is simply outside the city).
    flags: tuple[Literal["E_ORDER", "E_OUT_OF_AREA", "E_PLACEHOLDER_POSITION"], ...] = ()
    elements: tuple[Element, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> "Entity":
        ids = [e.id for e in self.elements]
        if len(set(ids)) != len(ids):
            raise ValueError("element ids must be unique")
        referenced = list(self.key) + [v for v in (self.in_area or {}).values()]
        referenced += [e.derive.from_ for e in self.elements if e.derive]
        referenced += [e.edition_from for e in self.elements if e.edition_from]
        referenced += [field for sequence in self.sequences for field in sequence]
        referenced += [self.time_field] if self.time_field else []
        referenced += [self.version_field] if self.version_field else []
        if self.version_field and not self.updates:
            raise ValueError("version_field applies to records that update (updates: true)")
        if "E_PLACEHOLDER_POSITION" in self.flags and not self.in_area:
            raise ValueError("flags: E_PLACEHOLDER_POSITION needs in_area (the position it judges)")
        if self.partition and not self.time_field:
            raise ValueError("partition: day needs a time_field to partition by")
        missing = [k for k in referenced if k not in ids]
        if missing:
            raise ValueError(f"unknown elements referenced: {missing}")
        return self

    def element(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.id == element_id)


class EventType(_Strict):
    """An event the rule engine consumes: the fields of an entity, or fields of its own (derived events)."""

    event: Annotated[str, Field(pattern=IDENTIFIER)]
    name_zh: str
    name_en: str
    description_zh: str | None = None
    entity: str | None = None
    elements: tuple[Element, ...] | None = None
    time_field: str | None = None
    # An entity row is the record as it is now; an event derived from it is the record as it was at the event's
    # moment: a call received is in status `received` with no dispatch or closing yet, whatever the row says today.
    at_event: dict[str, str | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> "EventType":
        if (self.entity is None) == (self.elements is None):
            raise ValueError("give either entity or elements")
        if self.at_event and self.entity is None:
            raise ValueError("at_event: only an event derived from an entity has values to set as of its moment")
        return self


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    city: CityProfile
    entities: dict[str, Entity]
    code_tables: dict[str, CodeTable]
    formats: dict[str, Format]
    events: dict[str, EventType]

    def event_fields(self, event: str) -> tuple[Element, ...]:
        """The fields an event carries: its own, or those of the entity it is derived from."""
        event_type = self.events[event]
        return event_type.elements if event_type.elements is not None else self.entities[event_type.entity].elements

    def pattern_of(self, element: Element) -> str | None:
        return self.formats[element.format].pattern if element.format else element.pattern


def _city_divisions(city: CityProfile) -> CodeTable:
    # The city's own code is a division too: the city bureau's platforms and city-level devices carry it.
    city_level = Code(code=city.code, name_zh=f"{city.name_zh}（市本级）", name_en=f"{city.name_en} (city level)",
                      group="city")
    return CodeTable(
        id="city_divisions", name_zh=f"{city.name_zh}行政区划", name_en=f"{city.name_en} divisions",
        standard="GB/T 2260 (city profile)", confidence="H",
        codes=(city_level,) + tuple(Code(code=d.code, name_zh=d.name_zh, name_en=d.name_en, group=d.kind)
                                    for d in city.divisions),
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


def _check_references(entities: dict[str, Entity], events: dict[str, EventType], tables: dict[str, CodeTable],
                      formats: dict[str, Format]) -> None:
    problems = []
    elements = [(e.entity, el) for e in entities.values() for el in e.elements]
    elements += [(ev.event, el) for ev in events.values() for el in (ev.elements or ())]
    for owner, element in elements:
        if element.code_table and element.code_table not in tables:
            problems.append(f"{owner}.{element.id}: unknown code table {element.code_table!r}")
        if element.format and element.format not in formats:
            problems.append(f"{owner}.{element.id}: unknown format {element.format!r}")
    for entity in entities.values():
        for element in entity.elements:
            if element.derive and element.derive.part:
                source = entity.element(element.derive.from_)
                if not source.format or element.derive.part not in formats.get(source.format, Format.model_construct(parts={})).parts:
                    problems.append(f"{entity.entity}.{element.id}: {element.derive.from_} has no format part "
                                    f"{element.derive.part!r}")
    problems += [f"format {f.id}.{name}: unknown code table {part.code_table!r}" for f in formats.values()
                 for name, part in f.parts.items() if part.code_table and part.code_table not in tables]
    problems += [f"event {ev.event}: unknown entity {ev.entity!r}" for ev in events.values()
                 if ev.entity and ev.entity not in entities]
    problems += [f"event {ev.event}: at_event names {name!r}, not an element of {ev.entity}" for ev in events.values()
                 if ev.entity in entities for name in ev.at_event
                 if name not in {e.id for e in entities[ev.entity].elements}]
    if problems:
        raise ValueError("standards reference things that do not exist:\n" + "\n".join(problems))


def _city_overrides(city: str, tables: dict[str, CodeTable]) -> dict[str, CodeTable]:
    """Replaceable code tables the city profile brings (config/cities/<city>/codes/*.yaml)."""
    folder = city_folder(city) / "codes"
    if not folder.exists():
        return {}
    overrides = {t.id: t for t in _load_folder(folder, CodeTable)}
    refused = [i for i in overrides if i in tables and not tables[i].replaceable]
    unknown = [i for i in overrides if i not in tables]
    if refused or unknown:
        raise ValueError(f"{folder}: the city may replace only replaceable code tables; refused {refused}, "
                         f"unknown {unknown}")
    return overrides


def load_catalogue(city: str | None = None) -> Catalogue:
    """The standards with the city's divisions and code tables: the current site's city unless another is named."""
    site = current_site()
    return _load_catalogue(city or site.city, site.root)


@lru_cache(maxsize=4)
def _load_catalogue(city: str, site_root: Path) -> Catalogue:
    profile = load_city(city)
    tables = {t.id: t for t in _load_folder(STANDARDS_DIR / "codes", CodeTable)}
    tables |= _city_overrides(city, tables)
    tables["city_divisions"] = _city_divisions(profile)
    formats = {f.id: f for f in _load_folder(STANDARDS_DIR / "formats", Format)}
    entities = {e.entity: e for e in _load_folder(STANDARDS_DIR / "entities", Entity)}
    events = {e.event: e for e in _load_folder(STANDARDS_DIR / "events", EventType)}
    _check_references(entities, events, tables, formats)
    return Catalogue(city=profile, entities=entities, code_tables=tables, formats=formats, events=events)
