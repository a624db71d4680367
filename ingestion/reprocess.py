"""Quarantined records given a second chance after the mapping or the standard was fixed.

Each quarantined record still holds the row as received; it is judged again by the current mapping and standard,
batch by batch with its original lineage (batch, file, line). Records that now conform are appended to silver
(once: the commit is named by the batch and the mapping/standard version) and then removed from quarantine, so
per batch bronze = silver + quarantine again. A crash between the two steps leaves a record in both for a while;
the next run finishes the removal. Duplicates and lines that could not be split stay: no mapping fix turns them
into records.

Files rejected whole (a wrong declared encoding, sheet or records path in the mapping) are read again from the
bytes kept in ops.rejected_files, as a new batch of the current mapping version; the new batch supersedes the
whole rejection (pipeline.FileIngestor.ingest_bytes).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, EqualTo, In

from safecity.lakehouse.exactly_once import append_once
from safecity.ingestion.mapping import LoadedMapping
from safecity.ingestion.pipeline import Batch, BatchIngestor, FileIngestor
from safecity.ingestion.readers import RawBatch, records_table
from safecity.standards.catalogue import Catalogue

log = logging.getLogger(__name__)

NOT_REPROCESSABLE = ("E_DUPLICATE_KEY",)


@dataclass
class ReprocessReport:
    source: str
    examined: int = 0
    recovered: int = 0
    removed_from_quarantine: int = 0
    still_rejected: Counter = field(default_factory=Counter)
    files_reread: int = 0        # files rejected whole, read again from their kept bytes
    files_still_rejected: int = 0

    def as_dict(self) -> dict:
        return {"source": self.source, "examined": self.examined, "recovered": self.recovered,
                "removed_from_quarantine": self.removed_from_quarantine,
                "still_rejected": dict(self.still_rejected), "files_reread": self.files_reread,
                "files_still_rejected": self.files_still_rejected}


def _version(loaded: LoadedMapping, catalogue: Catalogue) -> str:
    """What the judgement depends on: the mapping file and the entity's standard."""
    entity = catalogue.entities[loaded.mapping.entity]
    text = loaded.sha256 + entity.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reprocess_quarantine(catalog, catalogue: Catalogue, loaded: LoadedMapping,
                         as_of: dt.datetime | None = None) -> ReprocessReport:
    report = ReprocessReport(loaded.mapping.id)
    _reread_rejected_files(catalog, catalogue, loaded, as_of, report)
    batches = BatchIngestor(catalog, catalogue, loaded, as_of)
    quarantine, silver = batches.tables["quarantine"], batches.tables["silver"]
    rows = quarantine.refresh().scan(row_filter=EqualTo("_source", loaded.mapping.id)).to_arrow()
    _remove_recovered(quarantine, silver, rows, report)
    rows = quarantine.refresh().scan(row_filter=EqualTo("_source", loaded.mapping.id)).to_arrow()
    version = _version(loaded, catalogue)
    now = dt.datetime.now(dt.timezone.utc)
    for batch_id in sorted(set(rows.column("_batch_id").to_pylist())):
        group = rows.filter(pc.equal(rows.column("_batch_id"), batch_id)).to_pylist()
        records = []
        for row in group:
            record = json.loads(row["record"]) if row["record"] else {}
            if row["primary_reason"] in NOT_REPROCESSABLE or not record or any(k.startswith("_") for k in record):
                report.still_rejected[row["primary_reason"]] += 1
                continue
            records.append((row["_line"], record))
        report.examined += len(records)
        if not records:
            continue
        table, header = records_table(records)
        raw = RawBatch(table, header, "reprocess")
        batch = Batch(f"reprocess:{batch_id}:{version}", group[0]["_file"], "")
        _, recovered, still = batches.split(batch, lambda: raw, now)
        # Lineage stays the original batch's, so reconciliation per batch balances again after the move.
        recovered = recovered.set_column(recovered.schema.get_field_index("_batch_id"), "_batch_id",
                                         pa.array([batch_id] * recovered.num_rows, pa.string()))
        append_once(silver, recovered, batch.batch_id, {"safecity.reprocessed-from": batch_id})
        report.recovered += recovered.num_rows
        report.still_rejected.update(still.column("primary_reason").to_pylist())
    _remove_recovered(quarantine, silver, quarantine.refresh().scan(
        row_filter=EqualTo("_source", loaded.mapping.id)).to_arrow(), report)
    log.info("%s: %d examined, %d recovered to silver, %d still rejected", loaded.mapping.id, report.examined,
             report.recovered, sum(report.still_rejected.values()))
    return report


def _remove_recovered(quarantine, silver, rows: pa.Table, report: ReprocessReport) -> None:
    """Remove from quarantine the records silver now holds (same batch and line): converges after a crash."""
    if rows.num_rows == 0:
        return
    for batch_id in sorted(set(rows.column("_batch_id").to_pylist())):
        lines = rows.filter(pc.equal(rows.column("_batch_id"), batch_id)).column("_line").to_pylist()
        in_silver = silver.refresh().scan(row_filter=And(EqualTo("_batch_id", batch_id), In("_line", lines)),
                                          selected_fields=("_line",)).to_arrow().column("_line").to_pylist()
        if in_silver:
            quarantine.delete(And(EqualTo("_batch_id", batch_id), In("_line", in_silver)))
            report.removed_from_quarantine += len(set(in_silver))


def _reread_rejected_files(catalog, catalogue: Catalogue, loaded: LoadedMapping, as_of: dt.datetime | None,
                           report: ReprocessReport) -> None:
    """Read again, with the current mapping, every file of the source rejected whole (its newest kept bytes)."""
    files = FileIngestor(catalog, catalogue, loaded, None, as_of)
    rejected = files.batches.rejected_files.refresh()
    if rejected.current_snapshot() is None:
        return
    rows = rejected.scan(row_filter=EqualTo("_source", loaded.mapping.id)).to_arrow()
    newest: dict[str, dict] = {}
    for row in sorted(rows.to_pylist(), key=lambda r: r["_quarantined_at"]):
        if row["content"] is not None:
            newest[row["_file_sha256"]] = row
    for row in newest.values():
        if row["mapping_sha256"] == loaded.sha256:
            report.files_still_rejected += 1  # this very mapping version rejected it: nothing would change
            continue
        result = files.ingest_bytes(row["_file"], row["content"])
        if result.skipped:
            continue  # read since by this mapping version (from landing or an earlier reprocess)
        report.files_reread += 1
        report.files_still_rejected += result.rejected_whole is not None
        log.info("%s: read again from its kept bytes: %d received, %d silver, %d quarantined%s", row["_file"],
                 result.received, result.silver, result.quarantined,
                 f" (rejected whole again: {result.error})" if result.rejected_whole else "")
