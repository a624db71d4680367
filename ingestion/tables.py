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
    pa.field("_source", pa.string(), metadata={"description": "数据源映射 / Source mapping id"}),
    pa.field("_batch_id", pa.string(), metadata={"description": "批次（来源+文件内容哈希）/ Batch: source and file content hash"}),
    pa.field("_file", pa.string(), metadata={"description": "落地区中的文件 / File in landing"}),
    pa.field("_line", pa.int64(), metadata={"description": "文件中的物理行号 / Physical line in the file"}),
    pa.field("_record_sha256", pa.string(), metadata={"description": "原始记录的哈希 / SHA-256 of the record as received"}),
]
SILVER_INGESTED_AT = pa.field("_ingested_at", pa.timestamp("us", tz="UTC"),
                              metadata={"description": "写入合格表的时间 / Time written to silver"})


def lineage_columns() -> list[tuple[str, str, str]]:
    """(column, SQL type, description) of the lineage every silver table carries, for dbt sources."""
    sql = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", SILVER_INGESTED_AT.type: "TIMESTAMPTZ"}
    return [(f.name, sql[f.type], f.metadata[b"description"].decode()) for f in LINEAGE_FIELDS + [SILVER_INGESTED_AT]]

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
    return pa.schema(arrow_fields(entity) + LINEAGE_FIELDS + [SILVER_INGESTED_AT])

# Files (or stream batches) rejected whole, with their bytes as received: what `quarantine reprocess` reads again
# after the mapping is fixed. In ops, not quarantine: the quarantine namespace holds one table per entity.
REJECTED_FILES_TABLE = "ops.rejected_files"
REJECTED_FILES_SCHEMA = pa.schema([
    pa.field("_source", pa.string()),
    pa.field("entity", pa.string()),
    pa.field("_batch_id", pa.string()),
    pa.field("_file", pa.string()),
    pa.field("_file_sha256", pa.string()),
    pa.field("mapping_sha256", pa.string(), metadata={"description": "the mapping version that rejected it"}),
    pa.field("reason", pa.string()),
    pa.field("error", pa.string()),
    pa.field("content", pa.binary(), metadata={"description": "the bytes as received"}),
    pa.field("_quarantined_at", TS),
])

# Soft checks: one row per field a conforming record had flagged (standards: an entity's `flags`); the record is in
# silver with that field left out. Only entities that declare flags have the table; it is in ops, not quarantine
# (the quarantine namespace holds one table of rejected records per entity).
FLAGS_SCHEMA = pa.schema([pa.field("entity", pa.string())] + LINEAGE_FIELDS[:4] + [
    pa.field("record_key", pa.string(), metadata={"description": "记录主键 / The record's key, '|'-joined"}),
    pa.field("code", pa.string()), pa.field("field", pa.string()), pa.field("value", pa.string()),
    pa.field("message_zh", pa.string()), pa.field("message_en", pa.string()),
    pa.field("_flagged_at", TS),
])


FLAGS_PREFIX = "flags_"


def flags_table(entity: Entity) -> str:
    return f"ops.{FLAGS_PREFIX}{entity.entity}"

def entity_tables(catalog, entity: Entity) -> dict:
    """The entity's silver and quarantine tables, created (empty) if missing; silver in day partitions of the
    entity's event time where the standard says `partition: day`."""
    from safecity.lakehouse.catalog import ensure_table
    daily = entity.partition == "day"
    return {"silver": ensure_table(catalog, silver_table(entity), silver_schema(entity),
                                   entity.time_field if daily else None),
            "quarantine": ensure_table(catalog, quarantine_table(entity), QUARANTINE_SCHEMA)}


def ensure_entity_tables(catalog, catalogue, entities: list[str]) -> list[str]:
    """The silver and quarantine tables of `entities` (those the analysis models read): a site that sends only some
    of them still has every table, empty, so its marts build (with no rows for what it does not send) instead of
    failing on a missing table. Returns the entities whose tables were made."""
    missing = [e for e in map(catalogue.entities.__getitem__, entities) if not catalog.table_exists(silver_table(e))
               or not catalog.table_exists(quarantine_table(e))]
    for entity in missing:
        entity_tables(catalog, entity)
    return [e.entity for e in missing]
