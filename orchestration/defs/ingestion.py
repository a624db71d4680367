"""One ingestion asset per standard entity: every source mapping of the entity, files and (where the environment
has Kafka) its stream, into bronze (one table per source), silver and quarantine.

One asset per entity, not per source, because several sources feed one silver table (the camera registry comes
as CSV, as GB/T 28181 Catalog JSON and as community Excel ledgers) and a table has one producing asset.
"""

import dagster as dg

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import open_catalog, publish_views
from safecity.ingestion.landing import open_landing
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import SourceReport, ingest_source
from safecity.ingestion.reconcile import reconcile
from safecity.ingestion.streams import StreamIngestor
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource
from safecity.standards.catalogue import load_catalogue

OWNERS = ["team:data-platform"]
SOURCES_TAG = "safecity/sources"


def sources_of(asset: dg.AssetsDefinition) -> list[str]:
    return asset.op.tags[SOURCES_TAG].split(",")


def _rate(received: int, silver: int) -> str:
    return f"{silver / received:.1%}" if received else "–"


def sources_metadata(reports: list[SourceReport], reason_names: dict[str, str]) -> dict:
    """What a data engineer asks of an ingestion run: how much came, from where, how much conformed, and why not."""
    received = sum(r.received for r in reports)
    silver = sum(r.silver for r in reports)
    reasons = sum((r.reasons for r in reports), start=type(reports[0].reasons)()) if reports else {}
    per_source = "\n".join(
        f"| {r.source} | {len(r.files)} | {sum(f.skipped for f in r.files)} | {r.received:,} | {r.silver:,} | "
        f"{r.quarantined:,} | {_rate(r.received, r.silver)} |" for r in reports)
    top = "\n".join(f"| {code} | {reason_names.get(code, '')} | {count:,} |"
                    for code, count in reasons.most_common(8)) if reasons else ""
    return {
        "received": received,
        "conformance_rate": dg.MetadataValue.float(round(silver / received, 4) if received else float("nan")),
        "sources": dg.MetadataValue.md(
            "| 数据源 source | 批次 batches | 已接入 already done | 接收 received | 合格 silver | 隔离 quarantined | "
            "合格率 conformance |\n|---|---|---|---|---|---|---|\n" + per_source),
        "top_quarantine_reasons": dg.MetadataValue.md(
            "| 原因 reason | 说明 | 行数 rows |\n|---|---|---|\n" + top if top else "none"),
    }


def entity_ingestion(entity_id: str, sources: list[str], group: str, description_zh: str, description_en: str):
    """The multi-asset that ingests `sources` (mapping ids) into the lakehouse tables of `entity_id`."""
    silver = dg.AssetKey(["silver", entity_id])
    quarantine = dg.AssetKey(["quarantine", entity_id])
    bronze = {source: dg.AssetKey(["bronze", source]) for source in sources}
    specs = [dg.AssetSpec(key, group_name=group, kinds={"iceberg"}, owners=OWNERS,
                          description=f"{source} 原始记录（含文件/行号或主题/分区/偏移血缘）/ {source} as received, with "
                                      f"lineage (file and line, or topic, partition and offset)")
             for source, key in bronze.items()]
    specs += [
        dg.AssetSpec(silver, group_name=group, kinds={"iceberg"}, owners=OWNERS, deps=list(bronze.values()),
                     description=f"{description_zh}（符合标准）/ {description_en} that conform to the standards"),
        dg.AssetSpec(quarantine, group_name=group, kinds={"iceberg"}, owners=OWNERS, deps=list(bronze.values()),
                     description=f"被拒收的{description_zh}及原因代码 / Rejected {description_en.lower()} with "
                                 f"their reason codes, lineage and raw record"),
    ]

    @dg.multi_asset(
        name=f"ingest_{entity_id}",
        specs=specs,
        check_specs=[dg.AssetCheckSpec("reconciliation", asset=silver, blocking=True,
                                       description="每条接收记录恰好进入合格表或隔离表 / Every received record is in "
                                                   "exactly one of silver or quarantine, per batch")],
        pool=WAREHOUSE_POOL,
        # Sensors read which sources an asset ingests from here.
        op_tags={SOURCES_TAG: ",".join(sources)},
    )
    def _ingest(context: dg.AssetExecutionContext, safecity: SafeCityResource):
        settings = safecity.settings()
        catalogue = load_catalogue(settings.city.id)
        catalog = open_catalog(settings)
        landing = open_landing(settings)
        bootstrap = settings.secret("/kafka/bootstrap_servers_env") if settings.environment.kafka else None
        reports: list[SourceReport] = []
        for source in sources:
            loaded = load_mapping(mapping_path(source), catalogue)
            report = ingest_source(catalog, catalogue, loaded, landing)
            context.log.info("%s: %d files, %d received, %d silver, %d quarantined", source, len(report.files),
                             report.received, report.silver, report.quarantined)
            if bootstrap and loaded.mapping.topic:
                stream = StreamIngestor(catalog, catalogue, loaded, bootstrap).run()
                context.log.info("%s: %d stream batches, %d received", loaded.mapping.topic, len(stream.files),
                                 stream.received)
                report.files.extend(stream.files)
            reports.append(report)
        with connect(settings) as con:
            publish_views(con, catalog)
            bronze_union = "(" + " UNION ALL BY NAME ".join(f"SELECT * FROM bronze.{s}" for s in sources) + ")"
            balances = reconcile(con, bronze_union, f"silver.{entity_id}", f"quarantine.{entity_id}")
        names = {c.code: c.name_zh for c in catalogue.code_tables["reasons"].codes}
        for source, report in zip(sources, reports):
            yield dg.MaterializeResult(asset_key=bronze[source], metadata={
                "dagster/row_count": report.received, **sources_metadata([report], names)})
        meta = sources_metadata(reports, names)
        yield dg.MaterializeResult(asset_key=silver, metadata={
            "dagster/row_count": sum(r.silver for r in reports), **meta})
        yield dg.MaterializeResult(asset_key=quarantine, metadata={
            "dagster/row_count": sum(r.quarantined for r in reports), **meta})
        unbalanced = [b for b in balances if not b.balanced]
        yield dg.AssetCheckResult(
            check_name="reconciliation", asset_key=silver, passed=not unbalanced,
            metadata={"batches_checked": len(balances),
                      "unbalanced": dg.MetadataValue.md("\n".join(
                          f"- {b.file}: bronze {b.bronze} ≠ silver {b.silver} + quarantine {b.quarantine}"
                          for b in unbalanced) or "none")})

    return _ingest

