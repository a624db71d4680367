"""Declarative source mappings (config/sources/*.yaml): how one export format becomes one standard entity."""
from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.config.profiles import CONFIG_DIR
from safecity.config.yamlfile import YamlFileError, did_you_mean, load_yaml, parse_model
from safecity.standards.catalogue import Catalogue
from safecity.standards.conform import literal, quote

SOURCES_DIR = CONFIG_DIR / "sources"


class SourceMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    entity: str
    format: Literal["csv"]
    encoding: str = "utf-8"
    landing: str
    pattern: str = "*"
    columns: dict[str, str] = Field(min_length=1)
    # Values for elements the export does not carry (for example the GB/T 28181 edition its IDs follow).
    defaults: dict[str, str] = Field(default_factory=dict)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


@dataclass(frozen=True)
class LoadedMapping:
    mapping: SourceMapping
    path: Path
    sha256: str


def load_mapping(path: str | Path, catalogue: Catalogue) -> LoadedMapping:
    """Read and check a mapping against the standards: the entity exists and every target is one of its elements."""
    document = load_yaml(path)
    mapping = parse_model(document, SourceMapping)
    problems = []
    if mapping.entity not in catalogue.entities:
        problems.append(document.problem("/entity", "E_UNKNOWN_ENTITY", f"unknown entity {mapping.entity!r}",
                                         did_you_mean(mapping.entity, catalogue.entities)))
    else:
        entity = catalogue.entities[mapping.entity]
        writable = [e.id for e in entity.elements if not e.derive]
        for column, target in mapping.columns.items():
            if target not in writable:
                problems.append(document.problem(f"/columns/{column}", "E_UNKNOWN_FIELD",
                                                 f"{mapping.entity} has no element {target!r} to map {column!r} onto",
                                                 did_you_mean(target, writable)))
        for target in mapping.defaults:
            if target not in writable:
                problems.append(document.problem(f"/defaults/{target}", "E_UNKNOWN_FIELD",
                                                 f"{mapping.entity} has no element {target!r}",
                                                 did_you_mean(target, writable)))
        mapped = set(mapping.columns.values()) | set(mapping.defaults)
        for element in entity.elements:
            if element.required and not element.derive and element.id not in mapped:
                problems.append(document.problem("/columns", "E_REQUIRED",
                                                 f"required element {element.id!r} ({element.name_zh}) is not mapped"))
    if problems:
        raise YamlFileError(problems)
    return LoadedMapping(mapping, Path(path), hashlib.sha256(Path(path).read_bytes()).hexdigest())


def mapping_path(name: str) -> Path:
    """A mapping given by id (config/sources/<id>.yaml) or by path."""
    candidate = Path(name)
    return candidate if candidate.suffix in {".yaml", ".yml"} else SOURCES_DIR / f"{name}.yaml"


def mapped_select(columns: dict[str, str], defaults: dict[str, str], elements: tuple[str, ...],
                  present: list[str]) -> list[str]:
    """SELECT items that turn a file's columns into the entity's elements (`columns`: file column -> element).

    A column the file lacks is a missing value, or the default where one is given; so is an empty cell.
    """
    items = []
    for element in elements:
        column = next((c for c, target in columns.items() if target == element and c in present), None)
        default = defaults.get(element)
        if column is None:
            value = literal(default) if default is not None else "NULL::VARCHAR"
        elif default is None:
            value = quote(column)
        else:
            value = f"coalesce(NULLIF(trim({quote(column)}), ''), {literal(default)})"
        items.append(f"{value} AS {quote(element)}")
    return items
