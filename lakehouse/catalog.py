"""The Iceberg catalog of the environment in force, and its tables.

One catalog per environment: SQLite under the state folder on the embedded default, PostgreSQL with the warehouse
on S3/MinIO in production. Only the profile changes; the tables are the same, and any Iceberg engine (DuckDB here,
Spark or Trino at a larger site) reads them through the same catalog.
"""
from __future__ import annotations

import itertools
import time
import uuid

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.io.pyarrow import (_dataframe_to_data_files, bin_pack_arrow_table, bin_pack_record_batches,
                                  pyarrow_to_schema, write_file)
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties, WriteTask
from pyiceberg.utils.properties import property_as_int
from pyiceberg.transforms import DayTransform
from sqlalchemy.exc import IntegrityError, OperationalError

from safecity.config.profiles import S3Storage, Settings

NAMESPACES = ("bronze", "silver", "quarantine", "gold", "ops")
# Attempts at opening a catalog that other processes are creating at the same moment.
OPEN_ATTEMPTS = 5


def open_catalog(settings: Settings) -> Catalog:
    properties = {"uri": settings.catalog_uri, "warehouse": settings.warehouse_uri}
    if isinstance(settings.environment.storage, S3Storage):
        storage = settings.environment.storage
        scheme = "https" if storage.secure else "http"
        properties |= {
            "s3.endpoint": f"{scheme}://{settings.secret('/storage/endpoint_env')}",
            "s3.access-key-id": settings.secret("/storage/access_key_env"),
            "s3.secret-access-key": settings.secret("/storage/secret_key_env"),
            # PyArrow's S3 file system addresses a bucket path-style only when told, as MinIO needs.
            "s3.force-virtual-addressing": "false",
            # Without a region pyiceberg asks AWS where the bucket lives, which MinIO and an offline site cannot
            # answer; MinIO accepts any region and defaults to this one.
            "s3.region": "us-east-1",
        }
    else:
        settings.paths.warehouse.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, OPEN_ATTEMPTS):
        try:
            return _created(SqlCatalog("safecity", **properties))
        except (IntegrityError, OperationalError):
            # Processes opening a new catalog at once (two `rules serve` workers on a fresh home) all find its
            # tables and namespaces missing and all create them; the losers fail on what the winner made, and
            # find it there on the next attempt. A locked SQLite file clears the same way.
            time.sleep(0.05 * attempt)
    return _created(SqlCatalog("safecity", **properties))


def _created(catalog: SqlCatalog) -> SqlCatalog:
    for namespace in NAMESPACES:
        try:
            catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
    return catalog


def ensure_table(catalog: Catalog, identifier: str, schema: pa.Schema, day_partition: str | None = None) -> Table:
    """The table, created if missing; columns the schema has gained since (a standard's new element) are added.

    Iceberg adds columns without rewriting data: older rows read the new column as null. `day_partition` names a
    timestamp column whose day partitions the table (high-volume facts): a reader of one day opens that day's
    files only, and maintenance compacts day by day. An existing table gains the partitioning for new data.
    """
    table = catalog.create_table_if_not_exists(identifier, schema=schema)
    existing = {field.name for field in table.schema().fields}
    if any(name not in existing for name in schema.names):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(identifier)
    if day_partition and not any(f.name == f"{day_partition}_day" for f in table.spec().fields):
        with table.update_spec() as spec:
            spec.add_field(day_partition, DayTransform(), f"{day_partition}_day")
        table = catalog.load_table(identifier)
    return table


def iceberg_schema(schema: pa.Schema) -> pa.Schema:
    """Iceberg has no unsigned or 8/16-bit integers, stores timestamps in microseconds and time-zoned ones in UTC
    (the same instants; readers show them in their own zone)."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_integer(kind) and (pa.types.is_unsigned_integer(kind) or kind.bit_width < 32):
            kind = pa.int64() if kind.bit_width >= 32 else pa.int32()
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC" if kind.tz else None)
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def iceberg_ready(table: pa.Table) -> pa.Table:
    return table.cast(iceberg_schema(table.schema))


def iceberg_ready_batches(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """iceberg_ready one batch at a time, for a write that must not hold the whole table in memory."""
    schema = iceberg_schema(reader.schema)
    return pa.RecordBatchReader.from_batches(schema, (batch.cast(schema) for batch in reader))


def replace_rows(catalog: Catalog, identifier: str, rows: pa.Table, *, unless_equal_by: tuple[str, ...] = ()) -> Table:
    """Replace a derived table's rows in one commit (created or widened first, see ensure_table).

    unless_equal_by: columns that identify a row; when the table already holds exactly these rows (compared in
    that order), nothing is written, so a rerun over unchanged inputs leaves no new snapshot."""
    rows = iceberg_ready(rows)
    table = ensure_table(catalog, identifier, rows.schema)
    rows = rows.cast(table.schema().as_arrow())
    if unless_equal_by and table.current_snapshot() is not None:
        order = [(column, "ascending") for column in unless_equal_by]
        if table.scan().to_arrow().sort_by(order).equals(rows.sort_by(order)):
            return table
    table.overwrite(rows)
    return table


# Arrow bytes per data file written by the writers below (pyiceberg weighs a file's target in memory, not on disk).
# pyiceberg's 512 MB default held too much at once: the restricted copy of a day's passes took 2.8 GB with it.
FILE_BYTES = 128 * 2**20


def _only_partition(metadata, data: pa.Table) -> PartitionKey | None:
    """The partition every row of `data` falls in, if they all fall in one (None: several, none, or unpartitioned)."""
    spec, schema = metadata.spec(), metadata.schema()
    if spec.is_unpartitioned() or data.num_rows == 0:
        return None
    values = []
    for field in spec.fields:
        name = schema.find_column_name(field.source_id)
        if name not in data.column_names:
            return None
        transform = field.transform.pyarrow_transform(schema.find_field(field.source_id).field_type)
        found = pc.unique(transform(data.column(name)))
        if len(found) != 1:
            return None
        values.append(PartitionFieldValue(field, found[0].as_py()))
    return PartitionKey(field_values=values, partition_spec=spec, schema=schema)


def data_files(metadata, data: pa.Table, io, commit_uuid: uuid.UUID, counter: itertools.count):
    """Data files of `data` for a table with `metadata`, split by partition (not yet committed).

    Why not always pyiceberg's writer: it filters the input once per partition it holds, a full copy even when
    every row falls in one (an hour's pass file, a day's detector flows): 0.24 s of each pass file's commit."""
    key = _only_partition(metadata, data)
    if key is None:
        return _dataframe_to_data_files(metadata, data, io, commit_uuid, counter)
    task_schema = pyarrow_to_schema(data.schema, name_mapping=metadata.schema().name_mapping,
                                    format_version=metadata.format_version)
    target = property_as_int(metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
                             TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT)
    return write_file(io, metadata, (WriteTask(write_uuid=commit_uuid, task_id=next(counter), record_batches=batches,
                                               partition_key=key, schema=task_schema)
                                     for batches in bin_pack_arrow_table(data, target)))


def append_in_files(table: Table, data: pa.Table, properties: dict[str, str], file_bytes: int = FILE_BYTES) -> Table:
    """Append `data` in one commit (one snapshot carrying `properties`, even when `data` is empty), partitioning and
    writing one file's worth of rows at a time.

    Why not pyiceberg's append: on a partitioned table it first copies the whole input sorted by partition, so
    appending a day's 0.8 GB of detector-flow bronze took 1.75 GB more."""
    rows = max(1, data.num_rows * file_bytes // max(data.nbytes, 1))
    counter = itertools.count(0)
    with table.transaction() as tx:
        with tx.update_snapshot(snapshot_properties=properties).fast_append() as append:
            for offset in range(0, data.num_rows, rows):
                for data_file in data_files(tx.table_metadata, data.slice(offset, rows), table.io,
                                            append.commit_uuid, counter):
                    append.append_data_file(data_file)
    return table


def overwrite_batches(table: Table, rows: pa.RecordBatchReader, properties: dict[str, str],
                      file_bytes: int = FILE_BYTES) -> Table:
    """Replace every row of an unpartitioned table with `rows` in one commit (a single overwrite snapshot carrying
    `properties`), holding one data file's worth of batches at a time: `file_bytes` of Arrow.

    Why not pyiceberg's overwrite of a RecordBatchReader: its writer hands every file's batches to a thread pool at
    once (Executor.map drains the reader), so the whole input is held after all."""
    commit_uuid, counter = uuid.uuid4(), itertools.count(0)
    with table.transaction() as tx:
        with tx.update_snapshot(snapshot_properties=properties).overwrite(commit_uuid) as replace:
            for task in table.scan().plan_files():
                replace.delete_data_file(task.file)
            for batches in bin_pack_record_batches(rows, file_bytes):
                for data_file in _dataframe_to_data_files(table.metadata, pa.Table.from_batches(batches, rows.schema),
                                                          table.io, commit_uuid, counter):
                    replace.append_data_file(data_file)
    return table


def table_name(table: Table) -> str:
    return ".".join(table.name()[-2:])
