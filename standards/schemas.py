"""Arrow (and so Iceberg) schemas derived from the catalogue's entities."""
from __future__ import annotations

import pyarrow as pa

from safecity.standards.catalogue import Entity

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_fields(entity: Entity) -> list[pa.Field]:
    """One nullable field per element, with the Chinese name and sensitivity kept as field metadata."""
    return [
        pa.field(e.id, ARROW_TYPES[e.type], nullable=True,
                 metadata={"name_zh": e.name_zh, "sensitivity": e.sensitivity, "source": e.source})
        for e in entity.elements
    ]


def arrow_schema(entity: Entity) -> pa.Schema:
    return pa.schema(arrow_fields(entity))
