"""One ingestion asset per standard entity: every source mapping of the entity, files and (where the environment
has Kafka) its stream, into bronze (one table per source), silver and quarantine.

The assets are built from the site's mappings (sources/*.yaml of the site folder; config/sources/ of the default
site) each time the code location loads: a new mapping file is a new source of its entity's asset after a reload,
with no code.

One asset per entity, not per source, because several sources feed one silver table (the camera registry comes
as CSV, as GB/T 28181 Catalog JSON and as community Excel ledgers) and a table has one producing asset.

The entities the standards store in daily partitions (`partition: day`) get daily Dagster partitions too
(defs/partitions.py): a run for a day, or a backfill over a range in one run, ingests the files delivered on those
days. Their Kafka topic is read by whichever run comes next, whatever its day: a stream has offsets, not days, and
each record still lands in the silver partition of its own event time.
"""

import functools

import dagster as dg

from safecity.config.site import Site, current_site
from safecity.ingestion.entity import ingest_entity
from safecity.ingestion.mapping import mappings_by_entity
from safecity.ingestion.pipeline import SourceReport
from safecity.orchestration.defs.freshness import landing_key
from safecity.orchestration.defs.partitions import SINGLE_RUN, daily as daily_partitions, partition_days
from safecity.orchestration.resources import IcebergCatalogResource, KafkaResource, WAREHOUSE_POOL, step_settings
from safecity.standards.catalogue import load_catalogue

OWNERS = ["team:data-platform"]
SOURCES_TAG = "safecity/sources"
# The UI group of each entity's ingestion (the domain it belongs to); an entity not listed shows under "ingestion".
ENTITY_GROUPS = {"camera": "cameras", "device_status": "cameras", "vehicle_pass": "traffic", "detector": "traffic",
                 "detector_flow": "traffic", "traffic_incident": "traffic", "alarm_call": "incidents", "case": "cases",
                 "duty_roster": "support", "maintenance_work_order": "support", "maintenance_budget": "support",
                 **{e: "network" for e in ("network_node", "network_link", "network_attachment", "interface_status",
                                           "interface_counter", "link_probe")}}


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
    # Soft checks: fields left out of records that did go to silver.
    flags = sum((r.flags for r in reports), start=type(reports[0].flags)()) if reports else {}
    flagged = "\n".join(f"| {code} | {reason_names.get(code, '')} | {count:,} |" for code, count in flags.most_common())
    return {
        "received": received,
        "conformance_rate": dg.MetadataValue.float(round(silver / received, 4) if received else float("nan")),
        "sources": dg.MetadataValue.md(
            "| 数据源 source | 批次 batches | 已接入 already done | 接收 received | 合格 silver | 隔离 quarantined | "
            "合格率 conformance |\n|---|---|---|---|---|---|---|\n" + per_source),
        "top_quarantine_reasons": dg.MetadataValue.md(
            "| 原因 reason | 说明 | 行数 rows |\n|---|---|---|\n" + top if top else "none"),
        "flagged_fields": dg.MetadataValue.md(
            "| 标记 flag | 说明 | 字段数 fields |\n|---|---|---|\n" + flagged if flagged else "none"),
    }


@functools.cache
def _daily(entity_id: str) -> bool:
    # Entities are the same for every city; only code tables differ.
    return load_catalogue().entities[entity_id].partition == "day"


def entity_ingestion(entity_id: str, sources: list[str], group: str, description_zh: str, description_en: str):
    """The multi-asset that ingests `sources` (mapping ids) into the lakehouse tables of `entity_id`."""
    daily = _daily(entity_id)
    partitions = daily_partitions()
    silver = dg.AssetKey(["silver", entity_id])
    quarantine = dg.AssetKey(["quarantine", entity_id])
    bronze = {source: dg.AssetKey(["bronze", source]) for source in sources}
    specs = [dg.AssetSpec(key, group_name=group, kinds={"iceberg"}, owners=OWNERS, deps=[landing_key(source)],
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
        check_specs=[
            dg.AssetCheckSpec("reconciliation", asset=silver, blocking=True,
                              description="每条接收记录恰好进入合格表或隔离表 / Every received record is in exactly "
                                          "one of silver or quarantine, per batch"),
            dg.AssetCheckSpec("conformance", asset=silver, blocking=True,
                              description="本次接入的合格率不低于各数据源的门限（低于警告线告警，低于阻断线阻断下游）/ "
                                          "Conformance of this run per source against its thresholds (warn below "
                                          "warn_below, block downstream below block_below)"),
            dg.AssetCheckSpec("files", asset=quarantine,
                              description="没有整文件被拒收（读取或判定失败的文件已隔离，字节已保留）/ No file was "
                                          "rejected whole (a file that could not be read or judged is quarantined "
                                          "with its bytes kept; the run goes on)"),
        ],
        pool=WAREHOUSE_POOL,
        partitions_def=partitions if daily else None,
        backfill_policy=SINGLE_RUN if daily else None,
        # Sensors read which sources an asset ingests from here.
        op_tags={SOURCES_TAG: ",".join(sources)},
    )
    def _ingest(context: dg.AssetExecutionContext, catalog: IcebergCatalogResource, kafka: KafkaResource):
        settings = step_settings(catalog, kafka)
        catalogue = load_catalogue(settings.city.id)
        days = partition_days(context) if daily else None
        if days:
            context.log.info("delivery days %s … %s (%d)", days[0], days[-1], len(days))
        report = ingest_entity(settings, catalogue, entity_id, sources, days=days)
        reports = report.sources
        names = {c.code: c.name_zh for c in catalogue.code_tables["reasons"].codes}
        for source, source_report in zip(sources, reports):
            yield dg.MaterializeResult(asset_key=bronze[source], metadata={
                "dagster/row_count": source_report.received, **sources_metadata([source_report], names)})
        meta = sources_metadata(reports, names)
        yield dg.MaterializeResult(asset_key=silver, metadata={
            "dagster/row_count": sum(r.silver for r in reports), **meta})
        yield dg.MaterializeResult(asset_key=quarantine, metadata={
            "dagster/row_count": sum(r.quarantined for r in reports), **meta})
        yield dg.AssetCheckResult(
            check_name="reconciliation", asset_key=silver, passed=not report.unbalanced,
            metadata={"batches_checked": len(report.balances),
                      "unbalanced": dg.MetadataValue.md("\n".join(
                          f"- {b.file}: bronze {b.bronze} ≠ silver {b.silver} + quarantine {b.quarantine}"
                          for b in report.unbalanced) or "none")})
        yield conformance_check(silver, reports, report.mappings)
        yield files_check(quarantine, reports)

    return _ingest


def conformance_check(silver: dg.AssetKey, reports: list[SourceReport], mappings: dict) -> dg.AssetCheckResult:
    rows, worst = [], None
    for report in reports:
        limits = mappings[report.source].mapping.checks
        rate = report.conformance_rate
        verdict = "ok"
        if rate is not None and rate < limits.block_below:
            verdict = "block"
        elif rate is not None and rate < limits.warn_below:
            verdict = "warn"
        if verdict != "ok" and worst != "block":
            worst = verdict
        rows.append(f"| {report.source} | {report.received:,} | {_rate(report.received, report.silver)} | "
                    f"{sum(report.flags.values()):,} | {limits.warn_below:.0%} / {limits.block_below:.0%} | {verdict} |")
    severity = dg.AssetCheckSeverity.ERROR if worst == "block" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name="conformance", asset_key=silver, passed=worst is None, severity=severity,
        metadata={"sources": dg.MetadataValue.md(
            "| 数据源 source | 本次接收 received | 合格率 conformance | 标记字段 flagged (soft checks) | "
            "警告/阻断 warn/block | 结论 |\n|---|---|---|---|---|---|\n" + "\n".join(rows))})


def files_check(quarantine: dg.AssetKey, reports: list[SourceReport]) -> dg.AssetCheckResult:
    """Files rejected whole fail this check (not the run): the other files, and the day's marts, went on."""
    rejected = [(r.source, f) for r in reports for f in r.files if f.rejected_whole]
    rows = "\n".join(f"| {source} | {f.file} | {f.rejected_whole} | {(f.error or '').replace('|', '/')[:300]} |"
                     for source, f in rejected)
    return dg.AssetCheckResult(
        check_name="files", asset_key=quarantine, passed=not rejected, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rejected_files": len(rejected), "files": dg.MetadataValue.md(
            "| 数据源 source | 文件 file | 原因 reason | 错误 error |\n|---|---|---|---|\n" + rows if rows else "none"),
            "next_step": "修正映射后运行 / after fixing the mapping run: safecity quarantine reprocess <source>"})


def site_ingestion(site: Site | None = None) -> dict[str, dg.AssetsDefinition]:
    """{entity: its ingestion asset}, one per entity the site's mappings fill, fed by every mapping of it."""
    site = site or current_site()
    catalogue = load_catalogue(site.city)
    assets = {}
    for entity_id, sources in mappings_by_entity(site.sources_dir, catalogue).items():
        entity = catalogue.entities[entity_id]
        assets[entity_id] = entity_ingestion(entity_id, sources, ENTITY_GROUPS.get(entity_id, "ingestion"),
                                             entity.name_zh, entity.name_en)
    return assets
