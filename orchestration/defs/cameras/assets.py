"""Cameras: the video platform's catalog export from landing into bronze, silver and quarantine."""

import dagster as dg

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import open_catalog, publish_views
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.landing import open_landing
from safecity.ingestion.pipeline import SourceReport, ingest_source
from safecity.ingestion.reconcile import reconcile
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource
from safecity.standards.catalogue import load_catalogue

SOURCE = "video_platform_catalog_csv"
BRONZE = dg.AssetKey(["bronze", SOURCE])
SILVER = dg.AssetKey(["silver", "camera"])
QUARANTINE = dg.AssetKey(["quarantine", "camera"])


def report_metadata(report: SourceReport) -> dict:
    reasons = report.reasons.most_common(5)
    return {
        "files": len(report.files),
        "files_already_ingested": sum(f.skipped for f in report.files),
        "received": report.received,
        "conformance_rate": dg.MetadataValue.float(round(report.conformance_rate, 4)
                                                   if report.conformance_rate is not None else float("nan")),
        "top_quarantine_reasons": dg.MetadataValue.md(
            "| reason | rows |\n|---|---|\n" + "\n".join(f"| {code} | {count} |" for code, count in reasons)
            if reasons else "none"),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(BRONZE, group_name="cameras", kinds={"iceberg"}, owners=["team:data-platform"],
                     description="视频平台目录导出原始记录（含文件与行号血缘）/ The catalog export as received, "
                                 "with file and line lineage"),
        dg.AssetSpec(SILVER, group_name="cameras", kinds={"iceberg"}, owners=["team:data-platform"],
                     deps=[BRONZE], description="符合 GB/T 28181 的摄像机记录 / Cameras that conform to GB/T 28181"),
        dg.AssetSpec(QUARANTINE, group_name="cameras", kinds={"iceberg"}, owners=["team:data-platform"],
                     deps=[BRONZE], description="被拒收的摄像机记录及原因代码 / Rejected camera records with "
                                                "their reason codes"),
    ],
    check_specs=[dg.AssetCheckSpec("reconciliation", asset=SILVER, blocking=True,
                                   description="每条接收记录恰好进入合格表或隔离表 / Every received row is in "
                                               "exactly one of silver or quarantine")],
    pool=WAREHOUSE_POOL,
)
def camera_registry(context: dg.AssetExecutionContext, safecity: SafeCityResource):
    settings = safecity.settings()
    catalogue = load_catalogue(settings.city.id)
    catalog = open_catalog(settings)
    loaded = load_mapping(mapping_path(SOURCE), catalogue)
    report = ingest_source(catalog, catalogue, loaded, open_landing(settings))
    with connect(settings) as con:
        publish_views(con, catalog)
        balances = reconcile(con, ".".join(BRONZE.path), ".".join(SILVER.path), ".".join(QUARANTINE.path))
    meta = report_metadata(report)
    context.log.info("%s: %d files, %d received, %d silver, %d quarantined", SOURCE, len(report.files),
                     report.received, report.silver, report.quarantined)
    yield dg.MaterializeResult(asset_key=BRONZE, metadata={"dagster/row_count": report.received, **meta})
    yield dg.MaterializeResult(asset_key=SILVER, metadata={"dagster/row_count": report.silver, **meta})
    yield dg.MaterializeResult(asset_key=QUARANTINE, metadata={"dagster/row_count": report.quarantined, **meta})
    unbalanced = [b for b in balances if not b.balanced]
    yield dg.AssetCheckResult(
        check_name="reconciliation", asset_key=SILVER, passed=not unbalanced,
        metadata={"batches_checked": len(balances),
                  "unbalanced": dg.MetadataValue.md("\n".join(
                      f"- {b.file}: bronze {b.bronze} ≠ silver {b.silver} + quarantine {b.quarantine}"
                      for b in unbalanced) or "none")})
