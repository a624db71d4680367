"""Stable GB/T 28181 IDs for devices a vendor system exports without a conforming one.

The ID is built as the standard lays it out: the division (from the device's position: the nearest division
seat of the city profile, which has no boundary polygons; outside the city's extent, the city's own code),
basic unit 00, industry 00 (social security, road), the type of the device's kind, network 0, and the next free
serial in a block reserved for allocation (900001 upward) so that it never meets a vendor's own numbering.
Allocations are kept in `ops.device_id_allocation` beside the source's own ID and looked up first, so the same
device always gets the same ID, whichever file or run it arrives in.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from safecity.lakehouse.catalog import ensure_table
from safecity.lakehouse.exactly_once import append_once
from safecity.config.profiles import CityProfile
from safecity.standards.conform import literal, quote

log = logging.getLogger(__name__)

REGISTRY_TABLE = "ops.device_id_allocation"
FIRST_ALLOCATED_SERIAL = 900001
BASIC_UNIT, INDUSTRY, NETWORK = "00", "00", "0"
GB28181_ID = r"^[0-9]{20}$"

REGISTRY_SCHEMA = pa.schema([
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_device_id", pa.string(), nullable=False),
    pa.field("device_id", pa.string(), nullable=False),
    pa.field("division_code", pa.string()),
    pa.field("type_code", pa.string()),
    pa.field("allocated_at", pa.timestamp("us", tz="UTC")),
    pa.field("batch_id", pa.string()),
])


class IdAllocation(BaseModel):
    """In a mapping: how to allocate IDs for rows whose ID element does not conform."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    id_element: str = "device_id"
    # The element holding the vendor's own ID (mapped from the export like any other column).
    source_element: str = "source_device_id"
    # GB/T 28181 type code (3 digits) of the export's devices, or per kind: `kind_element` value -> type code.
    type_code: str = Field("132", pattern=r"^\d{3}$")
    kind_element: str | None = None
    kinds: dict[str, str] = Field(default_factory=dict)
    longitude: str = "longitude"
    latitude: str = "latitude"


@dataclass(frozen=True)
class Allocated:
    line: int
    device_id: str
    new: bool


def nearest_division(city: CityProfile, lon: float | None, lat: float | None) -> str:
    if lon is None or lat is None or not city.extent.contains(lon, lat):
        return city.gb2260
    centres = np.array([d.centre for d in city.divisions])
    scale = np.cos(np.radians(lat))
    distance = (centres[:, 0] - lon) ** 2 * scale ** 2 + (centres[:, 1] - lat) ** 2
    return city.divisions[int(np.argmin(distance))].code


def needs_id(spec: IdAllocation) -> str:
    """SQL: the rows that get an allocated ID — a vendor ID and no GB/T 28181 ID at all. A present but malformed ID
    (Excel's 1.30302e+19, a leading apostrophe, lost leading zeros) is a format error for the conformer to report,
    never silently replaced."""
    return (f"NULLIF(trim({quote(spec.source_element)}), '') IS NOT NULL "
            f"AND NULLIF(trim({quote(spec.id_element)}), '') IS NULL")


def preview_allocation(con, relation: str, spec: IdAllocation, city: CityProfile) -> str:
    """A view over `relation` where the rows that ingestion would allocate an ID for carry a placeholder of the
    allocated form (the city's division, the type code, serial 900000), so a check without the lakehouse judges
    the same rows as ingestion does."""
    placeholder = f"{city.gb2260}{BASIC_UNIT}{INDUSTRY}{spec.type_code}{NETWORK}{FIRST_ALLOCATED_SERIAL - 1:06d}"
    view = f"{relation}_with_ids"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * REPLACE (CASE WHEN {needs_id(spec)} "
                f"THEN {literal(placeholder)} ELSE {quote(spec.id_element)} END AS {quote(spec.id_element)}) "
                f"FROM {relation}")
    return view


class IdAllocator:
    def __init__(self, catalog, city: CityProfile, source: str, spec: IdAllocation):
        self.catalog, self.city, self.source, self.spec = catalog, city, source, spec
        self.registry = ensure_table(catalog, REGISTRY_TABLE, REGISTRY_SCHEMA)

    def allocate(self, con, relation: str, line_column: str, batch_id: str, now: dt.datetime) -> str:
        """A view over `relation` (mapped text) with allocated IDs where the ID element does not conform.

        New allocations are committed to the registry (under the batch id) before the batch's data, so a crash
        after this point finds them on the retry and allocates nothing twice."""
        s = self.spec
        kind = f"{quote(s.kind_element)}" if s.kind_element else "NULL"
        needing = con.execute(
            f"SELECT {quote(line_column)}, trim({quote(s.source_element)}), TRY_CAST({quote(s.longitude)} AS DOUBLE), "
            f"TRY_CAST({quote(s.latitude)} AS DOUBLE), {kind} FROM {relation} WHERE {needs_id(s)}").fetchall()
        known = {r["source_device_id"]: r["device_id"] for r in
                 self.registry.refresh().scan(row_filter=f"source == '{self.source}'").to_arrow().to_pylist()}
        taken = self._taken_serials()
        rows, new_rows = [], []
        for line, source_id, lon, lat, kind_value in needing:
            device_id = known.get(source_id)
            if device_id is None:
                division = nearest_division(self.city, lon, lat)
                type_code = s.kinds.get((kind_value or "").strip(), s.type_code)
                prefix = f"{division}{BASIC_UNIT}{INDUSTRY}{type_code}{NETWORK}"
                serial = max(taken.get(prefix, FIRST_ALLOCATED_SERIAL - 1), FIRST_ALLOCATED_SERIAL - 1) + 1
                taken[prefix] = serial
                device_id = f"{prefix}{serial:06d}"
                known[source_id] = device_id
                new_rows.append({"source": self.source, "source_device_id": source_id, "device_id": device_id,
                                 "division_code": division, "type_code": type_code, "allocated_at": now,
                                 "batch_id": batch_id})
            rows.append((line, device_id))
        if new_rows:
            append_once(self.registry, pa.Table.from_pylist(new_rows, REGISTRY_SCHEMA), f"allocation:{batch_id}")
            log.info("%s: allocated %d GB/T 28181 IDs", self.source, len(new_rows))
        con.register("allocated_ids", pa.table({line_column: pa.array([r[0] for r in rows], pa.int64()),
                                                "_allocated": pa.array([r[1] for r in rows], pa.string())}))
        view = f"{relation}_with_ids"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT m.* REPLACE (coalesce(a._allocated, "
                    f"m.{quote(s.id_element)}) AS {quote(s.id_element)}) FROM {relation} m "
                    f"LEFT JOIN allocated_ids a USING ({quote(line_column)})")
        return view

    def _taken_serials(self) -> dict[str, int]:
        """Highest allocated serial per 14-digit prefix, over every source's allocations."""
        ids = self.registry.scan(selected_fields=("device_id",)).to_arrow().column("device_id").to_pylist()
        taken: dict[str, int] = {}
        for device_id in ids:
            prefix, serial = device_id[:14], int(device_id[14:])
            taken[prefix] = max(taken.get(prefix, 0), serial)
        return taken
