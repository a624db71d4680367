"""The ingestion step of one standard entity: every source mapping that feeds it (files, and its Kafka topic where
the environment has Kafka) through bronze into silver and quarantine, then the reconciliation of what is stored.

One step per entity, not per source, because several sources feed one silver table (the camera registry comes as
CSV, as GB/T 28181 Catalog JSON and as community Excel ledgers). The Dagster asset, the orchestration benchmark's
direct path and anything else that ingests an entity call `ingest_entity`.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass

from safecity.config.profiles import Settings
from safecity.ingestion.landing import data_clock, open_landing
from safecity.ingestion.mapping import LoadedMapping, load_mapping, mapping_path
from safecity.ingestion.pipeline import SourceReport, ingest_source
from safecity.ingestion.reconcile import BatchBalance, reconcile
from safecity.ingestion.streams import StreamIngestor
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.standards.catalogue import Catalogue

log = logging.getLogger(__name__)


@dataclass
class EntityReport:
    entity: str
    sources: list[SourceReport]             # one per mapping, stream batches included in its files
    balances: list[BatchBalance]            # bronze = silver + quarantine, per stored batch
    mappings: dict[str, LoadedMapping]      # by source (mapping id)

    @property
    def unbalanced(self) -> list[BatchBalance]:
        return [b for b in self.balances if not b.balanced]


def ingest_entity(settings: Settings, catalogue: Catalogue, entity: str, sources: list[str], *,
                  days: Collection[dt.date] | None = None) -> EntityReport:
    """Ingest what is new for `entity` from `sources` (mapping ids); with `days`, only the landing files delivered
    on those days (and those without a day in their name). The Kafka topics are read to their end whatever the days:
    a stream has offsets, not days."""
    catalog = open_catalog(settings)
    landing = open_landing(settings)
    clock = data_clock(landing)
    bootstrap = settings.secret("/kafka/bootstrap_servers_env") if settings.environment.kafka else None
    reports, mappings = [], {}
    for source in sources:
        loaded = mappings[source] = load_mapping(mapping_path(source), catalogue)
        report = ingest_source(catalog, catalogue, loaded, landing, as_of=clock, days=days)
        log.info("%s: %d files, %d received, %d silver, %d quarantined", source, len(report.files),
                 report.received, report.silver, report.quarantined)
        if bootstrap and loaded.mapping.topic:
            stream = StreamIngestor(catalog, catalogue, loaded, bootstrap, as_of=clock).run()
            log.info("%s: %d stream batches, %d received", loaded.mapping.topic, len(stream.files), stream.received)
            report.files.extend(stream.files)
        reports.append(report)
    with connect(settings) as con:
        publish_views(con, catalog)
        bronze = "(" + " UNION ALL BY NAME ".join(f"SELECT * FROM bronze.{s}" for s in sources) + ")"
        balances = reconcile(con, bronze, f"silver.{entity}", f"quarantine.{entity}")
    return EntityReport(entity, reports, balances, mappings)
