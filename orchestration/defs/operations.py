"""Running it unattended: the daily build, five-minute stream micro-batches, and run failures reported through the
outbox, where every other alert of the platform goes (an executor delivers it to the duty channel)."""

import datetime as dt

import dagster as dg

from safecity.lakehouse.catalog import ensure_table
from safecity.lakehouse.exactly_once import append_once
from pyiceberg.catalog import Catalog
from safecity.orchestration.defs.partitions import local_day, site_zone
from safecity.orchestration.resources import IcebergCatalogResource
from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE, OutboxRecord, idempotency_key, to_arrow

PLATFORM_POLICY = "platform.run_failure"
STREAM_JOB = "streams"


def daily_build(main_job: str) -> dg.ScheduleDefinition:
    @dg.schedule(name="daily_build", job_name=main_job, cron_schedule="0 2 * * *", execution_timezone=site_zone(),
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="每天 02:00 构建前一天：接入、质检、分析模型与策略 / Every night at 02:00 the whole "
                             "graph for the day before (its daily partition)")
    def _daily_build(context: dg.ScheduleEvaluationContext):
        day = local_day(context.scheduled_execution_time, days_back=1)
        # The day as run key: a tick evaluated twice starts one run.
        return dg.RunRequest(run_key=f"daily-{day}", partition_key=day)
    return _daily_build


def stream_micro_batches(stream_assets: list[dg.AssetsDefinition]):
    """The stream job and its five-minute schedule."""
    job = dg.define_asset_job(STREAM_JOB, selection=dg.AssetSelection.assets(*stream_assets),
                              description="流数据五分钟微批（过车、设备心跳）/ Five-minute micro-batches of the streams "
                                          "(vehicle passes, device keepalives)")

    @dg.schedule(name="stream_micro_batches", job=job, cron_schedule="*/5 * * * *", execution_timezone=site_zone(),
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="每 5 分钟读取 Kafka 新消息（记入当天分区）/ Read what the Kafka topics hold every five "
                             "minutes, as a run of today's partition")
    def _micro_batches(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(partition_key=local_day(context.scheduled_execution_time))
    return job, _micro_batches


def failure_record(run_id: str, job_name: str, steps: list[str], error: str, at: dt.datetime) -> OutboxRecord:
    """A raise_alert record for a failed run, keyed by the run so that a repeated report adds nothing."""
    params = {"level": "warning", "channel": "ops_center",
              "message": f"作业 {job_name} 运行失败（{', '.join(steps) or '—'}）/ run of {job_name} failed"}
    return OutboxRecord(
        policy_id=PLATFORM_POLICY, policy_version=1, policy_file_sha256="", action="raise_alert",
        action_name_zh="发布告警", params=params,
        message=f"作业 {job_name} 运行 {run_id[:8]} 失败：{error[:500]} / run {run_id[:8]} of {job_name} failed",
        matched_event_ids=[f"run:{run_id}"], partition_key=job_name,
        idempotency_key=idempotency_key(PLATFORM_POLICY, 1, 0, [f"run:{run_id}"]), fired_at=at)


def report_failure(catalog: Catalog, record: OutboxRecord) -> bool:
    """Append the record to the outbox once; False if this run was already reported."""
    outbox = ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
    return not append_once(outbox, to_arrow([record]), f"run-failure:{record.matched_event_ids[0]}").skipped


def _root_cause(error) -> str:
    # Dagster wraps the op's exception ("Error occurred while executing op ..."); its cause is what broke.
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def run_failure_reporter() -> dg.SensorDefinition:
    @dg.run_failure_sensor(name="run_failures_to_outbox", monitor_all_code_locations=False,
                           default_status=dg.DefaultSensorStatus.RUNNING,
                           description="运行失败写入发件箱告警 / Failed runs become alerts in the outbox")
    def _report(context: dg.RunFailureSensorContext, catalog: IcebergCatalogResource):
        run = context.dagster_run
        failed = context.get_step_failure_events()
        steps = [e.step_key for e in failed if e.step_key]
        # The steps' own errors say what broke; the run's failure message only lists the steps.
        errors = [_root_cause(e.event_specific_data.error) for e in failed
                  if e.event_specific_data and e.event_specific_data.error]
        error = "; ".join(errors) or context.failure_event.message or "unknown error"
        report_failure(catalog.open(), failure_record(run.run_id, run.job_name, steps, error,
                                                         dt.datetime.now(dt.timezone.utc)))
    return _report
