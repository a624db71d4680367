"""Declarative source mappings (config/sources/*.yaml): how one export format becomes one standard entity."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
import zoneinfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.config.profiles import CONFIG_DIR, current_site
from safecity.config.yamlfile import YamlFileError, did_you_mean, load_yaml, parse_model
from safecity.ingestion.crs import check_system
from safecity.ingestion.derive import DerivedColumn, RowFilter
from safecity.ingestion.dialect import RFC4180, CsvDialect
from safecity.ingestion.id_allocation import IdAllocation
from safecity.ingestion.readers import POSITION, RawBatch, read, text_encoding
from safecity.ingestion.unit_cells import PART, UnitCells
from safecity.standards.catalogue import Catalogue
from safecity.standards.conform import literal, quote

SOURCES_DIR = CONFIG_DIR / "sources"


EPOCH_FORMATS = ("epoch_s", "epoch_ms")
# Epoch seconds of 0001-01-01 and 9999-12-31 23:59:59 UTC, the timestamps DuckDB can hold.
EPOCH_RANGE = (-62135596800, 253402300799)


class CodeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    code: str

    @model_validator(mode="after")
    def _bounded(self) -> "CodeRange":
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"range min {self.min} must be below max {self.max}")
        return self


class ColumnSpec(BaseModel):
    """One export column onto one element, with the conversion the export needs."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    element: str
    # strptime format of the export's times ("%Y%m%d%H%M%S" for GA/T 1400 PassTime), or epoch_s / epoch_ms.
    time_format: str | None = None
    # The zone the export's clock is in, when it is not the city's (UTC from some platforms).
    time_zone: str | None = None
    # Vendor code -> standard code; a vendor code not listed passes through and is judged by the code table.
    codes: dict[str, str] | None = None
    # Unit conversion by a factor (m/s -> km/h: 3.6).
    scale: float | None = None
    # Numbers onto codes by range, [min, max): {min: 0, max: 50, code: "1"}; tried after `codes`.
    ranges: list["CodeRange"] | None = None
    # The code for any non-empty value neither `codes` nor `ranges` lists (instead of passing it through).
    otherwise: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (IANA names, e.g. Asia/Shanghai, UTC)") from None
        return value

    @field_validator("time_format")
    @classmethod
    def _strptime_format(cls, value: str | None) -> str | None:
        if value is not None and value not in EPOCH_FORMATS:
            if "%" not in value:
                raise ValueError(f"time_format {value!r} is neither a strptime format (with %) nor one of "
                                 f"{EPOCH_FORMATS}")
            _duckdb_format(value)
        return value

    @field_validator("scale")
    @classmethod
    def _finite_scale(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value == 0):
            raise ValueError(f"scale {value!r} must be a finite number other than 0")
        return value


def _duckdb_format(value: str) -> None:
    """The conversion runs in DuckDB, whose strptime knows fewer directives than Python's: ask DuckDB itself."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SELECT try_strptime('', ?)", [value])
    except duckdb.Error as exc:
        reason = str(exc).split("Error:", 1)[-1].strip().splitlines()[0]
        raise ValueError(f"time_format {value!r} is not a format DuckDB's strptime reads ({reason})") from None
    finally:
        con.close()


class Coordinates(BaseModel):
    """The coordinate system of the export's longitude/latitude elements; converted to WGS-84 on the way in."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    # wgs84, gcj02, bd09 or an EPSG code (EPSG:2326); the elements then hold easting/northing until converted.
    system: str
    longitude: str = "longitude"
    latitude: str = "latitude"

    @field_validator("system")
    @classmethod
    def _known_system(cls, value: str) -> str:
        return check_system(value)


ColumnSpec.model_rebuild()


class SourceChecks(BaseModel):
    """How the source's data is judged in Dagster: conformance below `warn_below` warns, below `block_below` fails
    and stops what depends on it; no new data for `fresh_within_hours` is stale."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    warn_below: float = Field(0.95, ge=0, le=1)
    block_below: float = Field(0.5, ge=0, le=1)
    fresh_within_hours: float = Field(26.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "SourceChecks":
        if self.block_below > self.warn_below:
            raise ValueError(f"block_below ({self.block_below}) must not be above warn_below ({self.warn_below})")
        return self


class SourceMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    entity: str
    format: Literal["csv", "json", "jsonl", "xlsx", "xml"]
    encoding: str = "utf-8"
    # How the CSV is written when it is not RFC 4180 with a header (ingestion/dialect.py).
    csv: CsvDialect | None = None
    # Excel columns whose empty cells take the value above (merged cells).
    fill_down: list[str] = Field(default_factory=list)
    # Columns computed from the export's own, and the rows that belong to the entity (ingestion/derive.py).
    derive: dict[str, DerivedColumn] = Field(default_factory=dict)
    keep: RowFilter | None = None
    # Files: a folder of the landing area (local or bucket) and a file-name pattern; streams: a Kafka topic.
    landing: str | None = None
    pattern: str = "*"
    topic: str | None = None
    # JSON documents: the dotted path to the list of records (GA/T 1400: MotorVehicleListObject.MotorVehicleObject);
    # XML: the tag path from the root to the record element (GB/T 28181 Catalog: Response.DeviceList.Item).
    records: str | None = None
    sheet: str | None = None
    # An export column maps to an element id, or to {element: ..., conversions} (a ColumnSpec).
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    coordinates: Coordinates | None = None
    # Devices exported without a conforming GB/T 28181 ID get a stable allocated one (ingestion/id_allocation.py).
    allocate_ids: IdAllocation | None = None
    # Values for elements the export does not carry (for example the GB/T 28181 edition its IDs follow).
    defaults: dict[str, str] = Field(default_factory=dict)
    checks: SourceChecks = SourceChecks()
    # --- issue 16 part C: rows with several records per key (ingestion/unit_cells.py) ---
    # Cells packing a call's units as `UNIT=hh:mm:ss, ...`, exploded into one row per unit before the mapping.
    unit_cells: UnitCells | None = None

    @model_validator(mode="after")
    def _unit_cells_mapped(self) -> "SourceMapping":
        # The exploded columns only exist after unit_cells: unmapped, they would vanish without a word.
        if self.unit_cells is not None:
            unmapped = [c for c in self.unit_cells.cells + self.unit_cells.added_columns if c not in self.columns]
            if unmapped:
                raise ValueError(f"unit_cells: map {unmapped} in columns (each packed cell onto its timestamp "
                                 f"element, the unit and response columns onto theirs)")
        return self

    @field_validator("columns", mode="before")
    @classmethod
    def _short_form(cls, value):
        # The short form `column: element` is a spec without conversions; errors then point into the spec itself.
        if isinstance(value, dict):
            return {k: {"element": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _has_a_place(self) -> "SourceMapping":
        if self.landing is None and self.topic is None:
            raise ValueError("a source needs a landing folder (files) or a topic (Kafka), or both")
        if self.records is not None and self.format not in ("json", "xml"):
            raise ValueError("records (the path to the list of records) applies to formats json and xml only")
        if self.csv is not None and self.format != "csv":
            raise ValueError("csv (the dialect) applies to format csv only")
        if self.fill_down and self.format != "xlsx":
            raise ValueError("fill_down (merged cells) applies to format xlsx only")
        if self.topic is not None and self.format not in ("json", "jsonl"):
            raise ValueError("a Kafka topic carries one JSON object per message: use format json or jsonl")
        return self

    @property
    def dialect(self) -> CsvDialect:
        return self.csv or RFC4180

    def read(self, source: Path | str | bytes, where: str | None = None, encoding: str | None = None) -> RawBatch:
        """One export file read the way this mapping declares."""
        return read(source, self.format, encoding or self.encoding, where, self.records, self.sheet, self.dialect,
                    tuple(self.fill_down))

    @property
    def targets(self) -> dict[str, ColumnSpec]:
        """Export column -> its spec."""
        return dict(self.columns)

    @field_validator("landing")
    @classmethod
    def _inside_landing(cls, value: str | None) -> str | None:
        if value is not None:
            confined_folder(value)
        return value

    @field_validator("pattern")
    @classmethod
    def _file_name_pattern(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\\x00") or ".." in value:
            raise ValueError(f"pattern {value!r} must be a file-name pattern (no folders, no '..'), e.g. '*.csv'")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        text_encoding(value)
        return value


def confined_folder(value: str) -> str:
    """A landing folder as a mapping gives it: relative to the landing root and staying inside it."""
    parts = value.replace("\\", "/").split("/")
    if (not value.strip() or value.startswith(("/", "\\", "~")) or ":" in parts[0] or ".." in parts
            or any(ord(c) < 32 for c in value)):
        raise ValueError(f"landing {value!r} must be a folder inside the landing root, written relative to it "
                         f"(e.g. cameras/catalog), without '..'")
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
        for column, spec in mapping.targets.items():
            target = spec.element
            short = document.line_of(f"/columns/{column}/element") == document.line_of(f"/columns/{column}")
            pointer = f"/columns/{column}" + ("" if short else "/element")
            if target not in writable:
                problems.append(document.problem(pointer, "E_UNKNOWN_FIELD",
                                                 f"{mapping.entity} has no element {target!r} to map {column!r} onto",
                                                 did_you_mean(target, writable)))
            elif spec.time_format and entity.element(target).type != "timestamp":
                problems.append(document.problem(f"/columns/{column}/time_format", "E_TYPE",
                                                 f"{target!r} is a {entity.element(target).type}, not a timestamp"))
            elif spec.scale is not None and entity.element(target).type not in ("integer", "number"):
                problems.append(document.problem(f"/columns/{column}/scale", "E_TYPE",
                                                 f"{target!r} is a {entity.element(target).type}, not a number"))
        if mapping.coordinates:
            for key in ("longitude", "latitude"):
                target = getattr(mapping.coordinates, key)
                if target not in writable:
                    problems.append(document.problem(f"/coordinates/{key}", "E_UNKNOWN_FIELD",
                                                     f"{mapping.entity} has no element {target!r}",
                                                     did_you_mean(target, writable)))
        for target in mapping.defaults:
            if target not in writable:
                problems.append(document.problem(f"/defaults/{target}", "E_UNKNOWN_FIELD",
                                                 f"{mapping.entity} has no element {target!r}",
                                                 did_you_mean(target, writable)))
        if mapping.allocate_ids:
            a = mapping.allocate_ids
            for key in ("id_element", "source_element", "kind_element", "longitude", "latitude"):
                target = getattr(a, key)
                if target is not None and target not in writable:
                    problems.append(document.problem(f"/allocate_ids/{key}", "E_UNKNOWN_FIELD",
                                                     f"{mapping.entity} has no element {target!r}",
                                                     did_you_mean(target, writable)))
        problems += _one_column_per_element(document, mapping)
        mapped = {spec.element for spec in mapping.targets.values()} | set(mapping.defaults)
        if mapping.allocate_ids:
            # An export without the ID column at all: every row gets an allocated ID.
            mapped.add(mapping.allocate_ids.id_element)
        for element in entity.elements:
            if element.required and not element.derive and element.id not in mapped:
                problems.append(document.problem("/columns", "E_REQUIRED",
                                                 f"required element {element.id!r} ({element.name_zh}) is not mapped"))
    if problems:
        raise YamlFileError(problems)
    return LoadedMapping(mapping, Path(path), hashlib.sha256(Path(path).read_bytes()).hexdigest())


def _one_column_per_element(document, mapping: SourceMapping) -> list:
    """Two export columns onto one element would keep one and drop the other without a word."""
    first: dict[str, str] = {}
    problems = []
    for column, spec in mapping.targets.items():
        other = first.setdefault(spec.element, column)
        if other != column:
            problems.append(document.problem(f"/columns/{column}", "E_DUPLICATE_ELEMENT",
                                             f"{column!r} and {other!r} both map onto {spec.element!r}; "
                                             f"map one column per element"))
    return problems


def mapping_path(name: str) -> Path:
    """A mapping given by id (config/sources/<id>.yaml) or by path."""
    candidate = Path(name)
    return candidate if candidate.suffix in {".yaml", ".yml"} else current_site().sources_dir / f"{name}.yaml"


def _converted(spec: ColumnSpec, value: str, element_type: str) -> str:
    """SQL turning one export column into the standard's text form. A value that does not convert passes through
    as received, so the conformer rejects it with the value the source sent (nothing silently becomes null)."""
    text = f"trim({value})"
    out = value
    if spec.codes or spec.ranges or spec.otherwise is not None:
        out = _coded(spec, value, text)
    if spec.time_format in EPOCH_FORMATS:
        seconds = f"TRY_CAST({text} AS DOUBLE)" + (" / 1000" if spec.time_format == "epoch_ms" else "")
        # to_timestamp fails (not NULL) outside years 1-9999: such a number passes through for the conformer.
        seconds = f"CASE WHEN {seconds} BETWEEN {EPOCH_RANGE[0]} AND {EPOCH_RANGE[1]} THEN {seconds} END"
        out = f"coalesce(strftime(timezone('UTC', to_timestamp({seconds})), {literal(ISO_UTC)}), {value})"
    elif spec.time_format or spec.time_zone:
        # A vendor that mixes its own format with ISO text still means its own zone for the ISO values.
        iso = f"TRY_CAST({text} AS TIMESTAMP)"
        local = f"coalesce(try_strptime({text}, {literal(spec.time_format)}), {iso})" if spec.time_format else iso
        if spec.time_zone:
            form = f"strftime(timezone('UTC', timezone({literal(spec.time_zone)}, {local})), {literal(ISO_UTC)})"
        else:
            form = f"strftime({local}, {literal(ISO_LOCAL)})"
        out = f"coalesce({form}, {value})"
    if spec.scale is not None:
        number = f"TRY_CAST({text} AS DOUBLE) * {spec.scale!r}"
        if element_type == "integer":
            number = f"TRY_CAST(round({number}) AS BIGINT)"
        out = f"coalesce(CAST({number} AS VARCHAR), {value})"
    return out


def _coded(spec: ColumnSpec, value: str, text: str) -> str:
    """Vendor codes, then ranges of numbers, then the `otherwise` code; an empty cell stays empty."""
    cases = [f"WHEN {text} = {literal(vendor)} THEN {literal(code)}" for vendor, code in (spec.codes or {}).items()]
    number = f"TRY_CAST({text} AS DOUBLE)"
    for r in spec.ranges or []:
        bounds = ([f"{number} >= {r.min!r}"] if r.min is not None else []) + \
                 ([f"{number} < {r.max!r}"] if r.max is not None else [])
        cases.append(f"WHEN {' AND '.join(bounds)} THEN {literal(r.code)}")
    if spec.otherwise is not None:
        cases.append(f"WHEN NULLIF({text}, '') IS NOT NULL THEN {literal(spec.otherwise)}")
    return f"(CASE {' '.join(cases)} ELSE {value} END)"


ISO_LOCAL = "%Y-%m-%d %H:%M:%S.%f"
ISO_UTC = "%Y-%m-%d %H:%M:%S.%fZ"


def mapped_select(targets: dict[str, ColumnSpec], defaults: dict[str, str], elements: tuple[str, ...],
                  present: list[str], types: dict[str, str], decimal_comma: bool = False) -> list[str]:
    """SELECT items that turn a file's columns into the entity's elements (`targets`: file column -> spec).

    A column the file lacks is a missing value, or the default where one is given; so is an empty cell.
    `types` gives each element's type in the standard.
    """
    items = []
    for element in elements:
        column = next((c for c, spec in targets.items() if spec.element == element and c in present), None)
        default = defaults.get(element)
        if column is None:
            value = literal(default) if default is not None else "NULL::VARCHAR"
        else:
            source = quote(column)
            if decimal_comma and types.get(element) in ("integer", "number"):
                source = f"replace({source}, ',', '.')"
            value = _converted(targets[column], source, types.get(element, "string"))
            if default is not None:
                value = f"coalesce(NULLIF(trim({value}), ''), {literal(default)})"
        items.append(f"{value} AS {quote(element)}")
    return items


def coordinates_select(coordinates: Coordinates | None, relation: str) -> str:
    """SELECT over the mapped relation that brings positions in the export's system to WGS-84 (a no-op for WGS-84
    sources). Needs the functions of ingestion.crs registered on the connection."""
    if coordinates is None or coordinates.system == "wgs84":
        return f"SELECT * FROM {relation}"
    lon, lat = quote(coordinates.longitude), quote(coordinates.latitude)
    args = f"{literal(coordinates.system)}, TRY_CAST(trim({lon}) AS DOUBLE), TRY_CAST(trim({lat}) AS DOUBLE)"
    both = f"TRY_CAST(trim({lon}) AS DOUBLE) IS NOT NULL AND TRY_CAST(trim({lat}) AS DOUBLE) IS NOT NULL"
    return (f"SELECT * REPLACE ("
            f"CASE WHEN {both} THEN CAST(round(to_wgs84_lon({args}), 7) AS VARCHAR) ELSE {lon} END AS {lon}, "
            f"CASE WHEN {both} THEN CAST(round(to_wgs84_lat({args}), 7) AS VARCHAR) ELSE {lat} END AS {lat}"
            f") FROM {relation}")


def create_mapped_view(con, raw: str, header: list[str], targets: dict[str, ColumnSpec], defaults: dict[str, str],
                       coordinates: Coordinates | None, conformer, line_column: str, name: str = "mapped",
                       part: bool = False, decimal_comma: bool = False) -> None:
    """The view `name` over the relation `raw` (the export's text columns and `line_column`): the entity's source
    elements as text in the standard's forms, the position as POSITION and PART (the record's rank within its line:
    `raw`'s own PART column when `part`, else 0), ready for the conformer."""
    from safecity.ingestion import crs

    entity = conformer.entity
    types = {e.id: e.type for e in entity.elements}
    items = mapped_select(targets, defaults, conformer.source_columns(), header, types, decimal_comma)
    source = raw if header else f"(SELECT NULL::BIGINT AS {quote(line_column)}, 0 AS {PART} WHERE FALSE)"
    rank = quote(PART) if part else "0"
    # The export's columns stay behind: past this view the position is POSITION, which no element id can be.
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_columns AS "
                f"SELECT {', '.join(items)}, {quote(line_column)} AS {quote(POSITION)}, {rank} AS {PART} FROM {source}")
    if coordinates is not None and coordinates.system != "wgs84":
        crs.register(con)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {coordinates_select(coordinates, f'{name}_columns')}")


def mappings_by_entity(sources_dir: Path, catalogue) -> dict[str, list[str]]:
    """{entity: [mapping ids]} of the mapping files in `sources_dir`; a file that does not load stops the load
    with its file and line (a source silently missing from the graph would look like a quiet day)."""
    found: dict[str, list[str]] = {}
    for path in sorted(sources_dir.glob("*.yaml")):
        mapping = load_mapping(path, catalogue).mapping
        found.setdefault(mapping.entity, []).append(mapping.id)
    return found
