"""The lakehouse tables that ingestion writes: their names and Arrow schemas (lineage included)."""
from __future__ import annotations

import pyarrow as pa

from safecity.standards.catalogue import Entity
from safecity.standards.schemas import arrow_fields

TS = pa.timestamp("us", tz="UTC")

REASON_TYPE = pa.struct([
    ("code", pa.string()), ("field", pa.string()), ("value", pa.string()),
    ("message_zh", pa.string()), ("message_en", pa.string()),
])

# Where a row came from: enough to find the exact line of the exact file again.
LINEAGE_FIELDS = [
    pa.field("_source", pa.string()),
    pa.field("_batch_id", pa.string()),
    pa.field("_file", pa.string()),
    pa.field("_line", pa.int64()),
    pa.field("_record_sha256", pa.string()),
]

BRONZE_SCHEMA = pa.schema(LINEAGE_FIELDS + [
    pa.field("_file_sha256", pa.string()),
    pa.field("_received_at", TS),
    pa.field("record", pa.string(), metadata={"description": "the row as received, as a JSON object"}),
])

QUARANTINE_SCHEMA = pa.schema([pa.field("entity", pa.string())] + LINEAGE_FIELDS + [
    pa.field("record", pa.string()),
    pa.field("primary_reason", pa.string()),
    pa.field("reasons", pa.list_(REASON_TYPE)),
    pa.field("_quarantined_at", TS),
])


def bronze_table(source_id: str) -> str:
    return f"bronze.{source_id}"


def silver_table(entity: Entity) -> str:
    return f"silver.{entity.entity}"


def quarantine_table(entity: Entity) -> str:
    return f"quarantine.{entity.entity}"


def silver_schema(entity: Entity) -> pa.Schema:
    return pa.schema(arrow_fields(entity) + LINEAGE_FIELDS + [pa.field("_ingested_at", TS)])
