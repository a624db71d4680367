"""Batches through the lakehouse: received → bronze (as received) → conform → silver or quarantine.

A batch is a file (named by its source and content hash) or a range of offsets of one Kafka partition. Every
table write carries the batch id in its Iceberg commit, so re-ingesting a file adds nothing and a run killed
between two commits finishes the missing ones on the next start. Every received record ends in exactly one of
silver or quarantine: an exact copy of a record is quarantined as E_DUPLICATE_ROW and other content under a taken
key as E_DUPLICATE_KEY, so both are recorded, not dropped; a new version of a record that updates goes to silver.
A line packing several records (unit_cells) is judged as its records, ranked within the line by `_part`. A soft
check (an entity's `flags`) leaves the field out of silver and records the flag in ops.flags_<entity>.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThanOrEqual, Or

from safecity.lakehouse.catalog import ensure_table
from safecity.lakehouse.servers import unreachable_server
from safecity.lakehouse.exactly_once import (BATCH_PROPERTY, CommitResult, batch_properties, check_storable,
                                             commit_batch, committed_properties, discard_stage)
from safecity.ingestion.id_allocation import IdAllocator
from safecity.ingestion.landing import Landing, LocalLanding, delivery_day
from safecity.ingestion.derive import create_derived_view
from safecity.ingestion.mapping import LoadedMapping, create_mapped_view
from safecity.ingestion.read_ahead import ReadAhead
from safecity.ingestion.readers import LINE_COLUMN, POSITION, RawBatch, UnreadableFile
from safecity.ingestion.unit_cells import PART, explode
from safecity.ingestion.tables import (BRONZE_SCHEMA, FLAGS_SCHEMA, REASON_TYPE, REJECTED_FILES_SCHEMA,
                                       REJECTED_FILES_TABLE, bronze_table, entity_tables, flags_table)
from safecity.standards.catalogue import Catalogue
from safecity.standards.conform import FLAGS_COLUMN, REASONS_COLUMN, Conformer, literal, quote

log = logging.getLogger(__name__)


@dataclass
class FileReport:
    file: str
    batch_id: str
    received: int = 0
    silver: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    # Soft checks: fields flagged (left out) in records that went to silver, by reason code.
    flags: Counter = field(default_factory=Counter)
    # Lines of bronze that no silver or quarantined record came from (0 when every row is accounted for).
    unaccounted_lines: int = 0
    # Records judged: the lines, or more when a line packs several records (unit_cells).
    exploded: bool = False
    skipped: bool = False
    commits: list[CommitResult] = field(default_factory=list)
    # Set when the batch as a whole could not be read or judged: its reason code and what went wrong.
    rejected_whole: str | None = None
    error: str | None = None

    @property
    def reconciled(self) -> bool:
        if self.exploded:
            return self.unaccounted_lines == 0
        return self.received == self.silver + self.quarantined


REJECTED_WHOLE_PROPERTY = "safecity.rejected-whole"
# A conformed record `c` that an earlier batch did not already put in silver (an anti-join on line and rank).
NOT_A_SILVER_DUPLICATE = (f"NOT EXISTS (SELECT 1 FROM silver_duplicates d WHERE d._line = c._line "
                          f"AND d.{PART} = c.{PART})")
# The part of a file's batch id before this mark names the file (source and content); after it, the mapping version.
MAPPING_MARK = "@"


# A file of more lines is judged in parts of this many under its one batch id, so that the judge holds a part's
# intermediate tables, not the whole file's: a day's detector flows (1.65 M lines, one 86 MB CSV) peaked at 4.8 GB
# judged whole. The in-file duplicate check still sees every line (Conformer.repeats_sql over the whole file).
PART_LINES = 250_000


# Rows per record batch of the table the judge reads (see BatchIngestor._judge): a pass file's judge took 1.60–1.86 s
# in one batch, 1.12–1.41 s in batches of 8,192 rows (2 threads, 4 files of 100,000 passes).
RAW_BATCH_ROWS = 8_192


def _part_bounds(lines: pa.ChunkedArray | None) -> list[tuple[int | None, int | None]]:
    """Line ranges [low, high) of at most PART_LINES lines each; the first and last are open, so that a line the
    reader rejected (kept apart from the table) falls in one of them whatever its number."""
    if lines is None or len(lines) <= PART_LINES:
        return [(None, None)]
    ordered = lines.take(pc.sort_indices(lines))
    cuts = [ordered[i].as_py() for i in range(PART_LINES, len(lines), PART_LINES)]
    return list(zip([None, *cuts], [*cuts, None]))


def _line_range(column: str, low: int | None, high: int | None) -> str:
    """SQL: `column` within [low, high), an open end where None."""
    terms = ([f"{quote(column)} >= {low}"] if low is not None else []) + \
            ([f"{quote(column)} < {high}"] if high is not None else [])
    return " AND ".join(terms) or "TRUE"


# A batch's event times more than this apart are looked up in silver as separate ranges (_time_ranges_filter).
TIME_RANGE_GAP = dt.timedelta(hours=1)
# More ranges than this are looked up as one, from the first time to the last.
MAX_TIME_RANGES = 32


def _time_ranges_filter(con, time_field: str, where: str):
    """The Iceberg filter of the ranges the conformed rows' times (`where`) fall in: times within TIME_RANGE_GAP of
    each other share a range. Why not one range from the first time to the last: a batch of one hour with a few
    records of a camera whose clock is a year behind would read back every silver file of that year, every batch."""
    field = quote(time_field)
    ranges = con.execute(
        f"SELECT min(t), max(t) FROM (SELECT t, sum(starts) OVER (ORDER BY t) AS range_number FROM ("
        f"  SELECT t, CASE WHEN epoch(t) - lag(epoch(t)) OVER (ORDER BY t) > {TIME_RANGE_GAP.total_seconds()} "
        f"THEN 1 ELSE 0 END AS starts FROM (SELECT DISTINCT {field} AS t FROM conformed "
        f"  WHERE {where} AND {field} IS NOT NULL))) GROUP BY range_number ORDER BY 1").fetchall()
    if not ranges:
        return None
    if len(ranges) > MAX_TIME_RANGES:
        ranges = [(ranges[0][0], ranges[-1][1])]
    terms = [And(GreaterThanOrEqual(time_field, low.isoformat()), LessThanOrEqual(time_field, high.isoformat()))
             for low, high in ranges]
    return functools.reduce(Or, terms)


def _file_batch(source_id: str, data: bytes, mapping_sha256: str) -> tuple[str, str]:
    """The file's content hash and its batch id: source, content and the mapping's content hash, so that a fixed
    mapping reads again a file an earlier version rejected whole (see FileIngestor.ingest_bytes)."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{source_id}:{digest[:32]}{MAPPING_MARK}{mapping_sha256[:12]}"


@dataclass(frozen=True)
class WholeRejection:
    """Why a batch could not be read or judged at all: a reason code, where (line, if known) and the error text."""

    code: str
    message: str
    line: int = 0

    @classmethod
    def of(cls, exc: Exception) -> "WholeRejection":
        if isinstance(exc, UnreadableFile):
            return cls(exc.code, str(exc), exc.line or 0)
        return cls("E_FILE", f"{type(exc).__name__}: {exc}")


def _rejected_file_rows(rejection: WholeRejection, messages: dict[str, tuple[str, str]]) -> pa.Table:
    """A rejected file is kept as one quarantined record carrying the reason (its bytes in ops.rejected_files)."""
    zh, en = messages[rejection.code]
    text = rejection.message
    record = json.dumps({"_file_error": text}, ensure_ascii=False)
    return pa.table({
        LINE_COLUMN: pa.array([rejection.line], pa.int64()),
        "record": [record],
        "reasons": pa.array([[{"code": rejection.code, "field": "_file", "value": None,
                               "message_zh": f"文件：{zh}（{text}）", "message_en": f"file: {en} ({text})"}]],
                            pa.list_(REASON_TYPE)),
    })


def _commit_summary(table, batch_id: str) -> dict[str, str] | None:
    """The snapshot summary of the commit of `batch_id` to `table` (None if not committed)."""
    for snapshot in table.snapshots():
        extra = snapshot.summary.additional_properties if snapshot.summary else {}
        if extra.get(BATCH_PROPERTY) == batch_id:
            return extra
    return None


def _added_records(table, batch_id: str) -> int | None:
    """Rows the commit of `batch_id` added to `table`, from its snapshot summary (None if not committed)."""
    summary = _commit_summary(table, batch_id)
    return None if summary is None else int(summary.get("added-records", 0))


@dataclass
class Batch:
    """What one commit set covers: a file, or a range of offsets of one Kafka partition."""

    batch_id: str
    origin: str            # lineage `_file`: the file's name in landing, or kafka:<topic>/<partition>
    content_sha256: str
    properties: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None   # the bytes as received, kept if the batch is rejected whole


class BatchIngestor:
    """Ingests batches of one source mapping into its bronze, silver and quarantine tables; one instance per run."""

    def __init__(self, catalog, catalogue: Catalogue, loaded: LoadedMapping, as_of: dt.datetime | None = None):
        """`as_of` is the clock the checks run on ("not in the future"): now, or the receive time of a replay."""
        self.catalog = catalog
        self.catalogue = catalogue
        self.loaded = loaded
        self.mapping = loaded.mapping
        self.entity = catalogue.entities[self.mapping.entity]
        self.conformer = Conformer(catalogue, self.mapping.entity, as_of)
        # Created up front, so that an empty landing folder still yields (empty) tables for readers downstream.
        daily = self.entity.partition == "day"
        self.tables = {
            "bronze": ensure_table(catalog, bronze_table(self.mapping.id), BRONZE_SCHEMA,
                                   "_received_at" if daily else None),
            **entity_tables(catalog, self.entity),
        }
        self.rejected_files = ensure_table(catalog, REJECTED_FILES_TABLE, REJECTED_FILES_SCHEMA)
        self.flags = ensure_table(catalog, flags_table(self.entity), FLAGS_SCHEMA) if self.entity.flags else None
        self.messages = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["reasons"].codes}
        self.allocator = IdAllocator(catalog, catalogue.city, self.mapping.id, self.mapping.allocate_ids) \
            if self.mapping.allocate_ids else None

    def already_done(self, batch: Batch) -> FileReport | None:
        """The report of a batch every table has committed, read from the commits (the batch is not read again)."""
        counts = {name: _added_records(table, batch.batch_id) for name, table in self.tables.items()}
        if any(n is None for n in counts.values()):
            return None
        # A crash after the last commit can leave the batch's stage behind; it is never read again.
        discard_stage(self.tables["bronze"], batch.batch_id)
        report = FileReport(batch.origin, batch.batch_id, counts["bronze"], counts["silver"], counts["quarantine"],
                            skipped=True)
        report.rejected_whole = (_commit_summary(self.tables["bronze"], batch.batch_id) or {}).get(
            REJECTED_WHOLE_PROPERTY)
        return report

    def ingest(self, batch: Batch, read: Callable[[], RawBatch], now: dt.datetime | None = None) -> FileReport:
        """`read` gives the batch's records. If reading or judging fails, for any reason, the whole batch is one
        quarantined record and its bytes are kept in ops.rejected_files. Bronze first: what was received is
        recorded before any judgement of it; the commits are all or nothing (lakehouse commit_batch)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        report = FileReport(batch.origin, batch.batch_id)
        bronze, silver, quarantine, flags, rejection = self.split_contained(batch, read, now)
        properties = {"safecity.file": batch.origin, **batch.properties}
        writes = [(self.tables["bronze"], bronze)]
        if rejection is not None:
            properties[REJECTED_WHOLE_PROPERTY] = rejection.code
            report.rejected_whole, report.error = rejection.code, rejection.message
            writes.append((self.rejected_files, self._rejected_file_row(batch, rejection, now)))
        if self.flags is not None:
            writes.append((self.flags, flags))
        writes += [(self.tables["quarantine"], quarantine), (self.tables["silver"], silver)]
        report.commits = commit_batch(writes, batch.batch_id, properties)
        report.skipped = all(c.skipped for c in report.commits)
        report.received, report.silver, report.quarantined = bronze.num_rows, silver.num_rows, quarantine.num_rows
        report.reasons.update(quarantine.column("primary_reason").to_pylist())
        report.flags.update(flags.column("code").to_pylist())
        report.exploded = self.mapping.unit_cells is not None
        covered = set(silver.column("_line").to_pylist()) | set(quarantine.column("_line").to_pylist())
        report.unaccounted_lines = len(set(bronze.column("_line").to_pylist()) - covered)
        log.info("%s: %d received, %d silver, %d quarantined%s", report.file, report.received, report.silver,
                 report.quarantined, " (already ingested)" if report.skipped else "")
        return report

    def _rejected_file_row(self, batch: Batch, rejection: WholeRejection, now: dt.datetime) -> pa.Table:
        return pa.table({"_source": [self.mapping.id], "entity": [self.entity.entity], "_batch_id": [batch.batch_id],
                         "_file": [batch.origin], "_file_sha256": [batch.content_sha256],
                         "mapping_sha256": [self.loaded.sha256], "reason": [rejection.code],
                         "error": [rejection.message], "content": pa.array([batch.raw], pa.binary()),
                         "_quarantined_at": pa.array([now], pa.timestamp("us", tz="UTC"))},
                        schema=REJECTED_FILES_SCHEMA)

    def split(self, batch: Batch, read: Callable[[], RawBatch], now: dt.datetime
              ) -> tuple[pa.Table, pa.Table, pa.Table]:
        """The batch's bronze, silver and quarantine rows, judged but not written."""
        bronze, silver, quarantine, _, _ = self.split_contained(batch, read, now)
        return bronze, silver, quarantine

    def split_contained(self, batch: Batch, read: Callable[[], RawBatch], now: dt.datetime):
        """Bronze, silver, quarantine and the whole batch's rejection (None if it was read and judged). Any
        failure of reading or judging, expected (UnreadableFile) or not (a reader's bug, a value no table can
        hold), rejects the batch whole instead of stopping the run."""
        try:
            raw = read()
            tables = self._judge(batch, now, raw, self._bad_lines(raw))
            for table in tables:
                check_storable(table)
            return (*tables, None)
        except Exception as exc:  # noqa: BLE001 -- containment: any failure of one batch is that batch's result
            if unreachable_server(exc):
                raise  # a server is down, the file is not at fault: the run stops and its next run finishes it
            rejection = WholeRejection.of(exc)
            log.warning("%s: rejected whole: %s", batch.origin, rejection.message)
            log.debug("%s: rejected whole", batch.origin, exc_info=True)
            return (*self._judge(batch, now, None, _rejected_file_rows(rejection, self.messages)), rejection)

    def _judge(self, batch: Batch, now: dt.datetime, raw: RawBatch | None, rejected: pa.Table):
        lineage = {"_source": self.mapping.id, "_batch_id": batch.batch_id, "_file": batch.origin}
        con = duckdb.connect(":memory:")
        try:
            if raw is not None:
                # DuckDB scans a registered Arrow table in parallel, one record batch per task: a reader's table of
                # one batch (a pass file's 100,000 records) was conformed and hashed on one core of the two.
                batches = raw.table.to_batches(max_chunksize=RAW_BATCH_ROWS)
                con.register("raw", pa.Table.from_batches(batches, schema=raw.table.schema))
            con.register("rejected_lines", rejected)
            return self._finish(con, raw, "rejected_lines", lineage, batch.content_sha256, now)
        finally:
            con.close()

    def _already_in_silver(self, con) -> None:
        """`silver_duplicates`: conforming event rows whose key an earlier batch already put in silver (a record
        sent twice in two files, or again on a stream). They are quarantined as recorded duplicates, not dropped.

        Only keys in the batch's time ranges are read back, so the cost follows the batch, not the table."""
        keys = list(self.entity.key)
        time_field = self.entity.time_field
        ok = f"len({REASONS_COLUMN}) = 0"
        if self.entity.updates:
            # Every version of an updated record is kept; there is no earlier copy to be a duplicate of.
            con.execute("CREATE TEMP TABLE silver_duplicates (_line BIGINT, _part BIGINT, reasons STRUCT(code VARCHAR, "
                        "field VARCHAR, value VARCHAR, message_zh VARCHAR, message_en VARCHAR)[])")
            return
        silver = self.tables["silver"]
        fields = (*keys, "_record_sha256")
        nothing_to_look_up = not con.execute(f"SELECT count(*) FROM conformed WHERE {ok}").fetchone()[0]
        if silver.current_snapshot() is None or nothing_to_look_up:
            schema = silver.schema().as_arrow()
            existing = pa.table({k: pa.array([], schema.field(k).type) for k in fields})
        else:
            scan_filter = _time_ranges_filter(con, time_field, ok) if time_field else None
            scan = silver.scan(row_filter=scan_filter, selected_fields=fields) if scan_filter is not None \
                else silver.scan(selected_fields=fields)
            existing = scan.to_arrow()
        con.register("silver_keys", existing)
        key_text = " || '/' || ".join(f"CAST(c.{quote(k)} AS VARCHAR)" for k in keys)
        join = " AND ".join(f"c.{quote(k)} = e.{quote(k)}" for k in keys)
        # The same record as received (its hash in silver) is an exact duplicate; other content under the key is a
        # key collision.
        reasons = {code: (f"{{'code': {literal(code)}, 'field': {literal(keys[0])}, 'value': {key_text}, "
                          f"'message_zh': {literal(self.messages[code][0] + '：已由先前批次写入合格表')}, "
                          f"'message_en': {literal(self.messages[code][1] + ': already in silver from an earlier batch')}}}")
                   for code in ("E_DUPLICATE_ROW", "E_DUPLICATE_KEY")}
        con.execute(
            f"CREATE TEMP TABLE silver_duplicates AS SELECT c._line, c.{PART}, [CASE WHEN bool_or(e._record_sha256 = "
            f"h._record_sha256) THEN {reasons['E_DUPLICATE_ROW']} ELSE {reasons['E_DUPLICATE_KEY']} END] "
            f"AS reasons FROM conformed c JOIN silver_keys e ON {join} JOIN hashed h ON h._line = c._line "
            f"WHERE {ok} GROUP BY c._line, c.{PART}, {', '.join(f'c.{quote(k)}' for k in keys)}")

    def _bad_lines(self, raw: RawBatch) -> pa.Table:
        rows = [(r.line, json.dumps({"_raw_line": r.text}, ensure_ascii=False),
                 [{"code": r.code, "field": "_line", "value": r.text[:200],
                   "message_zh": f"第{r.line}行：{self.messages[r.code][0]}（{r.message}）",
                   "message_en": f"line {r.line}: {self.messages[r.code][1]} ({r.message})"}]) for r in raw.rejected]
        return pa.table({LINE_COLUMN: pa.array([r[0] for r in rows], pa.int64()),
                         "record": pa.array([r[1] for r in rows], pa.string()),
                         "reasons": pa.array([r[2] for r in rows], pa.list_(REASON_TYPE))})

    def _finish(self, con, raw: RawBatch | None, rejected_relation: str, lineage: dict, content_sha: str,
                now: dt.datetime):
        raw_columns = list(raw.header) if raw is not None else []
        # Derived columns and the row filter first; then map the export's columns onto the standard's elements
        # (columns the file lacks are missing values). A row packing several records (units of a call) is one row
        # per record from the mapping on, ranked by PART.
        derived, columns = create_derived_view(
            con, "raw", raw_columns, self.mapping.derive, self.mapping.keep, LINE_COLUMN,
            self.messages["E_FILTERED"], lineage["_file"], self.mapping.dialect.decimal_comma)
        relation, columns = explode(con, self.mapping.unit_cells, derived, LINE_COLUMN, columns)
        create_mapped_view(con, relation, columns, self.mapping.targets, self.mapping.defaults,
                           self.mapping.coordinates, self.conformer, LINE_COLUMN, part=relation != derived,
                           decimal_comma=self.mapping.dialect.decimal_comma)
        mapped = "mapped"
        if self.allocator is not None:
            mapped = self.allocator.allocate(con, mapped, POSITION, lineage["_batch_id"], now)
        order = f"({quote(POSITION)} * 1000000 + {PART})"
        bounds = _part_bounds(raw.table[LINE_COLUMN] if raw_columns else None)
        repeats = None
        if len(bounds) > 1:
            # The whole file's repeated keys, so that a key repeated across parts is found as within one.
            con.execute(f"CREATE TEMP TABLE repeats AS {self.conformer.repeats_sql(mapped, order)}")
            repeats = "repeats"
        judged = [self._judge_part(con, raw_columns, mapped, rejected_relation, lineage, content_sha, now, order,
                                   repeats, low, high) for low, high in bounds]
        if len(judged) == 1:
            return judged[0]
        log.info("%s: judged in %d parts of up to %d lines", lineage["_file"], len(judged), PART_LINES)
        return tuple(pa.concat_tables(tables) for tables in zip(*judged))

    def _judge_part(self, con, raw_columns: list[str], mapped: str, rejected_relation: str, lineage: dict,
                    content_sha: str, now: dt.datetime, order: str, repeats: str | None, low: int | None,
                    high: int | None):
        """Bronze, silver, quarantine and flag rows of the lines from `low` to before `high` (None: no bound)."""
        lineage_sql = ", ".join(f"{literal(v)} AS {k}" for k, v in lineage.items())
        in_part = _line_range(LINE_COLUMN, low, high)
        # Every record of the part as received, the reader's rows and the lines it rejected, with its content hash:
        # one statement, so that the record texts are written once.
        received = [f"SELECT {lineage_sql}, {quote(LINE_COLUMN)} AS _line, record FROM {rejected_relation} "
                    f"WHERE {in_part}"]
        if raw_columns:
            record = "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in raw_columns) + "))"
            received.insert(0, f"SELECT {lineage_sql}, {quote(LINE_COLUMN)} AS _line, CAST({record} AS VARCHAR) "
                               f"AS record FROM raw WHERE {in_part}")
        con.execute(f"CREATE TEMP TABLE hashed AS SELECT *, sha256(coalesce(record, '')) AS _record_sha256 "
                    f"FROM ({' UNION ALL '.join(received)})")
        part = f"(SELECT * FROM {mapped} WHERE {_line_range(POSITION, low, high)})"
        conformed = self.conformer.sql(part, (POSITION, PART), order, repeats=repeats).sql
        con.execute(f"CREATE TEMP TABLE conformed AS {conformed}")
        self._already_in_silver(con)
        ts = f"TIMESTAMPTZ '{now.isoformat()}'"
        bronze = con.sql(f"SELECT _source, _batch_id, _file, _line, _record_sha256, '{content_sha}' AS _file_sha256, "
                         f"{ts} AS _received_at, record FROM hashed ORDER BY _line").to_arrow_table()
        elements = ", ".join(quote(e.id) for e in self.entity.elements)
        silver = con.sql(f"SELECT {elements}, h._source, h._batch_id, h._file, h._line, h._record_sha256, "
                         f"{ts} AS _ingested_at FROM conformed c JOIN hashed h USING (_line) "
                         f"WHERE len(c.{REASONS_COLUMN}) = 0 AND {NOT_A_SILVER_DUPLICATE} "
                         f"ORDER BY h._line").to_arrow_table()
        # A rejected record also carries the flags of its soft checks: every reason of it, not only the first.
        all_reasons = f"list_concat({REASONS_COLUMN}, {FLAGS_COLUMN})" if self.entity.flags else REASONS_COLUMN
        quarantine = con.sql(
            f"SELECT '{self.entity.entity}' AS entity, h._source, h._batch_id, h._file, h._line, h._record_sha256, "
            f"h.record, reasons[1].code AS primary_reason, reasons, {ts} AS _quarantined_at FROM ("
            f"  SELECT _line, {all_reasons} AS reasons FROM conformed WHERE len({REASONS_COLUMN}) > 0"
            f"  UNION ALL SELECT {quote(LINE_COLUMN)}, reasons FROM {rejected_relation}"
            f"  UNION ALL SELECT _line, reasons FROM silver_duplicates"
            f"  UNION ALL SELECT _line, reasons FROM filtered"
            f") q JOIN hashed h USING (_line) ORDER BY h._line").to_arrow_table()
        flags = self._flag_rows(con, lineage, ts)
        con.execute("DROP TABLE conformed; DROP TABLE silver_duplicates; DROP TABLE hashed")
        return bronze, silver, quarantine, flags

    def _flag_rows(self, con, lineage: dict, ts: str) -> pa.Table:
        """The flags of the records that went to silver (a quarantined record carries its flags in its reasons)."""
        if not self.entity.flags:
            return FLAGS_SCHEMA.empty_table()
        key = "concat_ws('|', " + ", ".join(f"CAST({quote(k)} AS VARCHAR)" for k in self.entity.key) + ")"
        return con.sql(
            f"SELECT {literal(self.entity.entity)} AS entity, {literal(lineage['_source'])} AS _source, "
            f"{literal(lineage['_batch_id'])} AS _batch_id, {literal(lineage['_file'])} AS _file, _line, "
            f"{key} AS record_key, f.code, f.field, f.value, f.message_zh, f.message_en, {ts} AS _flagged_at "
            f"FROM (SELECT *, unnest({FLAGS_COLUMN}) AS f FROM conformed c WHERE len({REASONS_COLUMN}) = 0 "
            f"AND {NOT_A_SILVER_DUPLICATE}) ORDER BY _line, {PART}"
        ).to_arrow_table().cast(FLAGS_SCHEMA)


class FileIngestor:
    """Files of one source mapping from the landing area (a local folder or a bucket); one batch per file."""

    def __init__(self, catalog, catalogue: Catalogue, loaded: LoadedMapping, landing: Landing | Path | None,
                 as_of: dt.datetime | None = None):
        """`landing` None: only ingest_bytes is used (bytes kept in the lakehouse, not read from landing)."""
        self.batches = BatchIngestor(catalog, catalogue, loaded, as_of)
        self.mapping = loaded.mapping
        self.landing = landing if not isinstance(landing, (str, Path)) else LocalLanding(Path(landing))

    @property
    def tables(self):
        return self.batches.tables

    def ingest(self, name: str | Path, now: dt.datetime | None = None, ahead: ReadAhead | None = None) -> FileReport:
        """`ahead`: the source's read-ahead, which may have read the file already (ReadAhead.take)."""
        name = self._name(name)
        started = ahead.take(name) if ahead is not None else None
        if started is not None:
            data, read = started
            return self.ingest_bytes(name, data, now, read)
        where = self.landing.uri(name)
        try:
            data = self.landing.read(name)
        except OSError as exc:
            raise UnreadableFile(where, "E_FILE", exc.strerror or str(exc)) from None
        return self.ingest_bytes(name, data, now)

    def ingest_bytes(self, name: str, data: bytes, now: dt.datetime | None = None,
                     read: Callable[[], RawBatch] | None = None) -> FileReport:
        """Ingest `data`, the content of landing file `name`, once per content and mapping version: a file read
        (even partly quarantined) by any version of the mapping is done; one only rejected whole so far is read
        again when the mapping changed, and the newest attempt supersedes the earlier whole rejections. `read`:
        the file's read if it was started elsewhere (the mapping's reader over `data` otherwise)."""
        file_sha, batch_id = _file_batch(self.mapping.id, data, self.batches.loaded.sha256)
        batch = Batch(batch_id, name, file_sha, raw=data)
        done = self._done(batch)
        if done is not None:
            log.info("%s: already ingested (%d received, %d silver, %d quarantined)", name, done.received,
                     done.silver, done.quarantined)
            return done
        m = self.mapping
        where = self.landing.uri(name) if self.landing is not None else name
        report = self.batches.ingest(batch, read or (lambda: m.read(data, where)), now)
        self._supersede(batch_id)
        return report

    def needs_reading(self, name: str, data: bytes) -> bool:
        """Whether landing file `name` with content `data` is still to be ingested (not done by any mapping version)."""
        file_sha, batch_id = _file_batch(self.mapping.id, data, self.batches.loaded.sha256)
        return self._done(Batch(batch_id, name, file_sha)) is None

    def _attempts(self, batch_id: str, expired_too: bool = True) -> dict[str, dict[str, str]]:
        """The committed batches of the same file (source and content) under any mapping version; without
        `expired_too`, only those in the table's snapshots (no ledger read: the cheap check of a file done)."""
        file_key = batch_id.split(MAPPING_MARK, 1)[0]
        bronze = self.tables["bronze"]
        found = committed_properties(bronze) if expired_too else \
            {p[BATCH_PROPERTY]: p for s in bronze.snapshots() if (p := batch_properties(s.summary)).get(BATCH_PROPERTY)}
        return {b: p for b, p in found.items() if b.split(MAPPING_MARK, 1)[0] == file_key}

    def _done(self, batch: Batch) -> FileReport | None:
        done = self.batches.already_done(batch)
        if done is not None:
            self._supersede(batch.batch_id, expired_too=False)  # finishes a run killed right after its commits
            return done
        for other, properties in self._attempts(batch.batch_id).items():
            if other != batch.batch_id and REJECTED_WHOLE_PROPERTY not in properties:
                earlier = self.batches.already_done(Batch(other, batch.origin, batch.content_sha256))
                if earlier is not None:
                    return earlier
        return None

    def _supersede(self, batch_id: str, expired_too: bool = True) -> None:
        """Remove the records of earlier whole rejections of the file (the error marker in bronze and quarantine;
        their bytes stay in ops.rejected_files): the newest attempt stands for the file. Idempotent, so a crash
        between the commit and this step is finished on the next run."""
        for other, properties in self._attempts(batch_id, expired_too).items():
            if other == batch_id or REJECTED_WHOLE_PROPERTY not in properties:
                continue
            for name in ("quarantine", "bronze"):
                table = self.tables[name].refresh()
                if table.scan(row_filter=EqualTo("_batch_id", other), selected_fields=("_line",)).to_arrow().num_rows:
                    table.delete(EqualTo("_batch_id", other))

    def _name(self, name: str | Path) -> str:
        """A name relative to the landing root; a local path outside it is read where it is."""
        if isinstance(self.landing, LocalLanding) and Path(name).is_absolute():
            try:
                return Path(name).resolve().relative_to(self.landing.root.resolve()).as_posix()
            except ValueError:
                return str(name)
        return str(name)


def landing_files(landing: Landing, loaded: LoadedMapping, days: Collection[dt.date] | None = None) -> list[str]:
    """The source's files in landing; with `days`, those delivered on one of them and those without a day in
    their name (ingested once by whichever run comes first, so no file is left behind by a day filter)."""
    if loaded.mapping.landing is None:
        return []
    names = landing.files(loaded.mapping.landing, loaded.mapping.pattern)
    if days is None:
        return names
    return [name for name in names if (day := delivery_day(name)) is None or day in days]


@dataclass
class SourceReport:
    source: str
    entity: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def received(self) -> int:
        return sum(f.received for f in self.files)

    @property
    def silver(self) -> int:
        return sum(f.silver for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def reasons(self) -> Counter:
        return sum((f.reasons for f in self.files), Counter())

    @property
    def flags(self) -> Counter:
        return sum((f.flags for f in self.files), Counter())

    @property
    def reconciled(self) -> bool:
        return all(f.reconciled for f in self.files)

    @property
    def conformance_rate(self) -> float | None:
        return self.silver / self.received if self.received else None


def ingest_source(catalog, catalogue: Catalogue, loaded: LoadedMapping, landing: Landing | Path,
                  names: list[str | Path] | None = None, as_of: dt.datetime | None = None,
                  days: Collection[dt.date] | None = None) -> SourceReport:
    """Ingest the given files, or the files of the source's landing folder (delivered on `days`, if given), in
    name order."""
    ingestor = FileIngestor(catalog, catalogue, loaded, landing, as_of)
    report = SourceReport(loaded.mapping.id, loaded.mapping.entity)
    files = names if names is not None else landing_files(ingestor.landing, loaded, days)
    # Each file's successor is read in a worker while the file is judged.
    with ReadAhead(loaded.mapping, ingestor.landing, ingestor.needs_reading,
                   [ingestor._name(name) for name in files]) as ahead:
        for number, name in enumerate(files, 1):
            log.info("[%d/%d] %s", number, len(files), name)
            try:
                report.files.append(ingestor.ingest(name, ahead=ahead))
            except UnreadableFile as exc:
                # No bytes, so no batch: the file stays in landing and is listed, and the other files go on.
                log.warning("%s", exc)
                report.files.append(FileReport(str(name), "", rejected_whole=exc.code, error=str(exc)))
    return report
