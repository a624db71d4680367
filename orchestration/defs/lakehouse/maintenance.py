"""Lakehouse maintenance as a scheduled job: compaction of small files and expiry of old snapshots, nightly.

Expiry keeps every batch id and Kafka offset range in the batch ledger first (lakehouse/maintenance.py), so the
exactly-once guarantees of ingestion hold across it.
"""

import datetime as dt

import dagster as dg

from safecity.lakehouse.maintenance import format_report, maintain
from safecity.orchestration.defs.partitions import site_zone
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource


class MaintenanceConfig(dg.Config):
    older_than_days: float = 7.0
    keep_last: int = 5


@dg.op(pool=WAREHOUSE_POOL, description="压缩小文件、过期旧快照（批次编号先入台账）/ Compact small files and expire old "
                                        "snapshots, batch ids kept in the ledger first")
def maintain_lakehouse(context: dg.OpExecutionContext, config: MaintenanceConfig, catalog: IcebergCatalogResource):
    results = maintain(catalog.open(), older_than=dt.timedelta(days=config.older_than_days),
                       keep_last=config.keep_last)
    report = format_report(results)
    context.log.info("\n%s", report)
    context.add_output_metadata({
        "tables": len(results),
        "files_before": sum(r.files_before for r in results),
        "files_after": sum(r.files_after for r in results),
        "snapshots_expired": sum(r.snapshots_expired for r in results),
        "batches_ledgered": sum(r.batches_ledgered for r in results),
        "report": dg.MetadataValue.md(f"```\n{report}\n```"),
    })
    return len(results)


@dg.job(description="湖仓维护：压缩与快照过期 / Lakehouse maintenance: compaction and snapshot expiry")
def lakehouse_maintenance():
    maintain_lakehouse()


def nightly_maintenance() -> dg.ScheduleDefinition:
    """03:30 in the site's city."""
    return dg.ScheduleDefinition(
        name="nightly_maintenance", job=lakehouse_maintenance, cron_schedule="30 3 * * *",
        execution_timezone=site_zone(), default_status=dg.DefaultScheduleStatus.RUNNING,
        description="每天 03:30 维护湖仓 / Maintain the lakehouse every night at 03:30")
