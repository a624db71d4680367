"""The landing sensor asks for a run only when files it has not seen arrive."""
import shutil

import dagster as dg

from safecity.orchestration.defs.cameras.assets import camera_registry, device_status
from safecity.orchestration.defs.ingestion import sources_of
from safecity.orchestration.defs.sensors import landing_sensor
from safecity.orchestration.resources import SafeCityResource
from tests.conftest import SAMPLE_EXPORT


def sensor_of(asset, settings):
    """The asset's landing sensor, and definitions holding both (what evaluating a tick needs)."""
    sensor = landing_sensor(asset, sources_of(asset), settings.environment.name, str(settings.paths.home))
    definitions = dg.Definitions(assets=[asset], sensors=[sensor], resources={
        "safecity": SafeCityResource(environment=settings.environment.name, home=str(settings.paths.home))})
    return sensor, definitions


def test_new_files_trigger_one_run_each_time(settings):
    sensor, definitions = sensor_of(camera_registry, settings)
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)

    def evaluate(cursor):
        context = dg.build_sensor_context(cursor=cursor, definitions=definitions)
        return sensor.evaluate_tick(context), context.cursor

    result, cursor = evaluate(None)
    assert not result.run_requests and "no new files" in result.skip_message

    shutil.copy(SAMPLE_EXPORT, folder / "day1.csv")
    result, cursor = evaluate(cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].tags["safecity/new_files"] == "1"
    assert set(result.run_requests[0].asset_selection) == set(camera_registry.keys)

    result, cursor = evaluate(result.cursor)
    assert not result.run_requests

    shutil.copy(SAMPLE_EXPORT, folder / "day2.csv")
    (settings.paths.landing / "catalog").mkdir()
    (settings.paths.landing / "catalog" / "catalog.json").write_text('{"DeviceList": []}', encoding="utf-8")
    result, _ = evaluate(result.cursor if result.cursor else cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].tags["safecity/new_files"] == "2"


def test_new_files_of_a_daily_asset_ask_for_a_run_of_each_delivered_day(settings):
    sensor, definitions = sensor_of(device_status, settings)
    folder = settings.paths.landing / "heartbeats"
    folder.mkdir(parents=True)
    # 2019: before the platform's first partition; a day far in the future: after today's.
    for day in ("20260715", "20260716", "20190301", "20990101"):
        (folder / f"status_{day}.jsonl").write_text('{"DeviceID": "x"}\n', encoding="utf-8")

    result = sensor.evaluate_tick(dg.build_sensor_context(definitions=definitions))
    assert sorted((r.partition_key, r.tags["safecity/new_files"]) for r in result.run_requests) == [
        ("2026-07-15", "1"), ("2026-07-16", "1")]
    # A request the instance would launch: a valid partition of the asset's own definition.
    assert all(r.partition_key in device_status.partitions_def.get_partition_keys() for r in result.run_requests)
