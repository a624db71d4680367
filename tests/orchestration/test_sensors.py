"""The landing sensor asks for a run only when files it has not seen arrive."""
import shutil

import dagster as dg

from safecity.orchestration.defs.cameras.assets import camera_registry
from safecity.orchestration.defs.ingestion import sources_of
from safecity.orchestration.defs.sensors import landing_sensor
from safecity.orchestration.resources import SafeCityResource
from tests.conftest import SAMPLE_EXPORT


def test_new_files_trigger_one_run_each_time(settings):
    sensor = landing_sensor(camera_registry, sources_of(camera_registry), settings.environment.name,
                            str(settings.paths.home))
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)

    definitions = dg.Definitions(assets=[camera_registry], sensors=[sensor], resources={
        "safecity": SafeCityResource(environment=settings.environment.name, home=str(settings.paths.home))})

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
