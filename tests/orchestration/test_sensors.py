"""The landing sensor asks for a run only when files it has not seen arrive, with a cursor that does not grow."""
import json
import os
import shutil

import dagster as dg

from safecity.orchestration.defs.ingestion import site_ingestion, sources_of
from safecity.orchestration.defs.sensors import Watermark, landing_sensor
from safecity.orchestration.resources import platform_resources
from tests.conftest import SAMPLE_EXPORT

INGESTION = site_ingestion()
camera_registry, device_status = INGESTION["camera"], INGESTION["device_status"]


def sensor_of(asset, settings):
    """The asset's landing sensor, and one tick of it from a cursor (definitions holding both, and the resources
    the sensor receives, opened for the tick as Dagster opens them)."""
    sensor = landing_sensor(asset, sources_of(asset))
    resources = platform_resources(settings.environment.name, str(settings.paths.home))
    definitions = dg.Definitions(assets=[asset], sensors=[sensor], resources=resources)

    def tick(cursor=None):
        with dg.build_sensor_context(cursor=cursor, definitions=definitions, resources=resources) as context:
            return sensor.evaluate_tick(context)
    return sensor, tick


def test_new_files_trigger_one_run_each_time(settings):
    sensor, tick = sensor_of(camera_registry, settings)
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)

    def evaluate(cursor):
        result = tick(cursor)
        return result, result.cursor or cursor

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
    sensor, tick = sensor_of(device_status, settings)
    folder = settings.paths.landing / "heartbeats"
    folder.mkdir(parents=True)
    # 2019: before the platform's first partition; a day far in the future: after today's.
    for day in ("20260715", "20260716", "20190301", "20990101"):
        (folder / f"status_{day}.jsonl").write_text('{"DeviceID": "x"}\n', encoding="utf-8")

    result = tick()
    assert sorted((r.partition_key, r.tags["safecity/new_files"]) for r in result.run_requests) == [
        ("2026-07-15", "1"), ("2026-07-16", "1")]
    # A request the instance would launch: a valid partition of the asset's own definition.
    assert all(r.partition_key in device_status.partitions_def.get_partition_keys() for r in result.run_requests)


def test_the_cursor_stays_small_however_many_files_landing_holds(settings):
    sensor, tick = sensor_of(camera_registry, settings)
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    cursor, sizes = None, []
    for batch in range(3):
        for n in range(40):
            (folder / f"export_{batch:02d}_{n:03d}.csv").write_text("a\n", encoding="utf-8")
            # Forty files a batch, each at its own time, every batch later than the one before.
            os.utime(folder / f"export_{batch:02d}_{n:03d}.csv", (1_000_000 + batch * 100 + n,) * 2)
        result = tick(cursor)
        assert len(result.run_requests) == 1 and result.run_requests[0].tags["safecity/new_files"] == "40"
        cursor = result.cursor
        sizes.append(len(json.loads(cursor)["names"]))
    # Only the names at the watermark's instant are kept (ctime, the files' creation here, is the same for many).
    assert max(sizes) <= 120 and json.loads(cursor)["at"] >= 1_000_240


def test_the_watermark_takes_what_arrived_after_it_or_at_it_unseen():
    mark = Watermark(10.0, frozenset({"a.csv"}))
    arrivals = {"a.csv": 10.0, "b.csv": 10.0, "old.csv": 5.0, "c.csv": 12.0}
    assert mark.new(arrivals) == ["b.csv", "c.csv"]
    after = mark.after(arrivals)
    assert after == Watermark(12.0, frozenset({"c.csv"}))
    assert after.new(arrivals) == []
    assert Watermark.parse(after.serialise()) == after
    # The cursor of earlier versions (every name seen) still means "seen".
    assert Watermark.parse(json.dumps(["a.csv"])).new({"a.csv": 1.0, "d.csv": 2.0}) == ["d.csv"]


def test_a_file_moved_into_landing_with_an_old_time_is_new(settings):
    sensor, tick = sensor_of(camera_registry, settings)
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE_EXPORT, folder / "first.csv")
    result = tick()
    outside = settings.paths.home / "outside.csv"
    shutil.copy(SAMPLE_EXPORT, outside)
    os.utime(outside, (946_684_800, 946_684_800))  # mtime 2000-01-01, as `cp -p` or an unzip keeps it
    os.replace(outside, folder / "moved.csv")        # a move changes ctime, not mtime
    result = tick(result.cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].tags["safecity/new_files"] == "1"
