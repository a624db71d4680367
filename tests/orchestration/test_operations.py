"""Unattended operation: schedules exist, and a failed run becomes one alert in the outbox."""
import dagster as dg

from safecity.lakehouse.catalog import open_catalog
from safecity.orchestration.definitions import build_definitions
from safecity.orchestration.resources import platform_resources
from safecity.orchestration.defs.operations import PLATFORM_POLICY, run_failure_reporter


@dg.op
def broken_step():
    raise RuntimeError("the landing share is not mounted")


@dg.job
def broken_job():
    broken_step()


def test_schedules_for_the_daily_build_streams_and_maintenance(settings):
    definitions = build_definitions(settings)
    schedules = {s.name: (s.cron_schedule, s.job_name) for s in definitions.schedules}
    assert schedules == {"daily_build": ("0 2 * * *", "main"), "stream_micro_batches": ("*/5 * * * *", "streams"),
                         "nightly_maintenance": ("30 3 * * *", "lakehouse_maintenance"),
                         "observe_landing_hourly": ("7 * * * *", "observe_landing")}
    streams = {k.to_user_string() for k in definitions.resolve_job_def("streams").asset_layer.selected_asset_keys}
    assert {"silver/vehicle_pass", "silver/device_status"} <= streams and "silver/camera" not in streams


def test_a_failed_run_is_reported_once_as_an_alert_in_the_outbox(settings):
    sensor = run_failure_reporter()
    resources = platform_resources(settings.environment.name, str(settings.paths.home))
    with dg.DagsterInstance.ephemeral() as instance:
        result = broken_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"][0]
        for _ in range(2):
            with dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                                    dagster_run=result.dagster_run, dagster_event=failure,
                                                    resources=resources) as context:
                sensor(context.for_run_failure())
    rows = open_catalog(settings).load_table("ops.outbox").scan().to_arrow().to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["policy_id"] == PLATFORM_POLICY and row["action"] == "raise_alert"
    assert row["partition_key"] == "broken_job" and row["matched_event_ids"] == [f"run:{result.run_id}"]
    assert "broken_step" in row["params"] and "失败" in row["message"]
    assert "the landing share is not mounted" in row["message"]
