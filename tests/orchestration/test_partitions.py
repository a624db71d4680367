"""Daily partitions of the high-volume facts: a day's run takes that day's deliveries, a backfill over a range is one
run that takes the rest, and the dbt facts hold each day's passes as silver does."""
import datetime as dt
import json
import shutil

import dagster as dg
import pytest

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding, delivery_day
from safecity.orchestration.definitions import MAIN_JOB, build_definitions
from safecity.orchestration.defs.partitions import daily as daily_partitions, local_day, partitioned_assets
from safecity.orchestration.defs.sensors import files_by_day
from safecity.orchestration.defs.standards.assets import reference_tables
from safecity.orchestration.defs.ingestion import site_ingestion
from safecity.orchestration.main_job import RANGE_END_TAG, RANGE_START_TAG, delivery_days, partition_tags
from safecity.simulator.run import simulate
from safecity.standards.catalogue import load_catalogue

FIRST, SECOND = dt.date(2026, 7, 15), dt.date(2026, 7, 16)

INGESTION = site_ingestion()
detector_flows, detectors, vehicle_passes = (INGESTION[e] for e in ("detector_flow", "detector", "vehicle_pass"))


@pytest.mark.parametrize("name, day", [
    ("passes/20260715/passes_00_001.json", FIRST),
    ("detectors/flows_20260716.csv", SECOND),
    ("archive/2026/07/flows_20260716_v2.csv", SECOND),
    ("support/budgets_2026.csv", None),
    ("cameras/export_20261340.csv", None),   # not a date
    ("cameras/device_3402000000132000001.csv", None),  # digits inside a longer number are no date
])
def test_the_delivery_day_is_read_from_the_name(name, day):
    assert delivery_day(name) == day


def test_new_files_ask_for_a_run_of_each_day_they_deliver():
    grouped = files_by_day(["passes/20260715/a.json", "passes/20260716/b.json", "passes/20260715/c.json",
                            "passes/undated.json"])
    today = local_day(dt.datetime.now(dt.timezone.utc))
    assert grouped == {"2026-07-15": ["passes/20260715/a.json", "passes/20260715/c.json"],
                       "2026-07-16": ["passes/20260716/b.json"], today: ["passes/undated.json"]}


def test_the_partitioned_assets_are_the_standards_daily_entities_and_their_dbt_facts(settings):
    partitioned = partitioned_assets(build_definitions(settings))
    assert all(asset.partitions_def == daily_partitions() and asset.backfill_policy == dg.BackfillPolicy.single_run()
               for asset in partitioned)
    daily = {key.to_user_string() for asset in partitioned for key in asset.keys}
    entities = {e for e, spec in load_catalogue().entities.items() if spec.partition == "day"}
    assert {k.split("/")[1] for k in daily if k.startswith("silver/")} == entities == {
        "vehicle_pass", "detector_flow", "device_status", "interface_status", "interface_counter", "link_probe"}
    assert {"marts/fct_vehicle_passes", "marts/fct_detector_daily_health"} <= daily
    assert "marts/mart_congestion_index" not in daily


def test_several_days_in_landing_make_one_range_run():
    assert partition_tags([FIRST, SECOND]) == {RANGE_START_TAG: "2026-07-15", RANGE_END_TAG: "2026-07-16"}
    assert partition_tags([FIRST]) == {"dagster/partition": "2026-07-15"}


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate("qinhuangdao", FIRST, 2, "small", 3, out)
    landing = tmp_path_factory.mktemp("delivered")
    for folder in ("passes", "detectors", "detector_registry"):
        shutil.copytree(out / folder, landing / folder)
    # The simulated clock: passes "from the future" are faults of the simulated days, not of today's.
    shutil.copy(out / "manifest.json", landing / "manifest.json")
    return landing


def home_with(landing, home):
    shutil.copytree(landing, home / "landing")
    return load_settings("local", home)


def records_in(landing: LocalLanding, names: list[str]) -> int:
    total = 0
    for name in names:
        document = json.loads(landing.read(name))
        total += len(document["MotorVehicleListObject"]["MotorVehicleObject"])
    return total


# The daily assets and what they read: the detector registry (unpartitioned) tells the detectors' health which
# detectors to expect; the reference tables are what its dbt tests check codes against.
SELECTION = [*vehicle_passes.keys, *detector_flows.keys, *detectors.keys, *reference_tables.keys] + [dg.AssetKey(key.split("/")) for key in (
    "staging/stg_traffic_platform__detectors", "staging/stg_viid__vehicle_passes", "marts/fct_vehicle_passes",
    "staging/stg_detectors__flows", "intermediate/int_detectors__daily_signals", "marts/fct_detector_daily_health")]


def stored(settings) -> dict:
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("bronze", "silver", "quarantine"))
        tables = ("bronze.viid_motor_vehicles", "bronze.detector_flows_csv", "silver.vehicle_pass",
                  "quarantine.vehicle_pass", "silver.detector_flow", "marts.fct_vehicle_passes")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        counts["silver passes by day"] = dict(con.execute(
            "SELECT pass_time::date, count(*) FROM silver.vehicle_pass GROUP BY 1").fetchall())
        counts["fact passes by day"] = dict(con.execute(
            "SELECT pass_date, count(*) FROM marts.fct_vehicle_passes GROUP BY 1").fetchall())
        counts["verdicts"] = sorted(con.execute(
            "SELECT detector_id, flow_date, verdict, coalesce(reason, '') FROM marts.fct_detector_daily_health"
        ).fetchall())
    return counts


def assert_daily_invocations_reuse_the_parse(settings, days):
    """Each daily step ran dbt in its own folder of the home (not the source tree), seeded with the home's parse, so
    dbt did not parse the project again; and the step's days reached the models through the environment (seen in
    the incremental build of the fact after the first day: the first build has no day filter)."""
    runs = sorted((settings.paths.dbt_target / "runs").glob("*-daily_models-*"))
    assert len(runs) == len(days)
    for folder in runs:
        log = (folder / "dbt.log").read_text(encoding="utf-8")
        assert "Unable to do partial parsing" not in log and "Partial parsing enabled" in log
    compiled = next(runs[-1].rglob("compiled/**/fct_vehicle_passes.sql")).read_text(encoding="utf-8")
    assert f"pass_time >= cast('{days[-1].isoformat()}' as timestamptz)" in compiled


@pytest.mark.integration
@pytest.mark.slow
def test_day_by_day_and_a_backfill_in_one_run_store_the_same(two_days, tmp_path):
    landing = LocalLanding(two_days)
    passes = landing.files("passes", "*.json")
    assert {delivery_day(n) for n in passes} == {FIRST, SECOND}

    by_day = home_with(two_days, tmp_path / "by_day")
    definitions = build_definitions(by_day)
    assert delivery_days(by_day, definitions) == [FIRST, SECOND]
    job = definitions.resolve_job_def(MAIN_JOB)
    with dg.DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance, partition_key="2026-07-15", asset_selection=SELECTION).success
        with connect(by_day) as con:
            publish_views(con, open_catalog(by_day), ("bronze",))
            files = {r[0] for r in con.execute("SELECT DISTINCT _file FROM bronze.viid_motor_vehicles").fetchall()}
            bronze_rows = con.execute("SELECT count(*) FROM bronze.viid_motor_vehicles").fetchone()[0]
        # The day's run read that day's deliveries and nothing else.
        assert {delivery_day(f) for f in files} == {FIRST}
        assert bronze_rows == records_in(landing, [n for n in passes if delivery_day(n) == FIRST])
        assert job.execute_in_process(instance=instance, partition_key="2026-07-16", asset_selection=SELECTION).success
    assert_daily_invocations_reuse_the_parse(by_day, [FIRST, SECOND])

    in_one = home_with(two_days, tmp_path / "in_one")
    with dg.DagsterInstance.ephemeral() as instance:
        result = build_definitions(in_one).resolve_job_def(MAIN_JOB).execute_in_process(
            instance=instance, asset_selection=SELECTION, tags=partition_tags([FIRST, SECOND]))
        assert result.success and len(instance.get_runs()) == 1
        materialized = instance.fetch_materializations(dg.AssetKey(["silver", "vehicle_pass"]), limit=10).records
        assert sorted(r.partition_key for r in materialized) == ["2026-07-15", "2026-07-16"]

    day_by_day, one_run = stored(by_day), stored(in_one)
    assert day_by_day == one_run
    # Every delivered record once; the fact holds every pass silver holds, on the local day of its time (a pass
    # delivered late sits on its own day, whichever run took it in).
    assert one_run["bronze.viid_motor_vehicles"] == records_in(landing, passes)
    assert one_run["fact passes by day"] == one_run["silver passes by day"]
    assert one_run["marts.fct_vehicle_passes"] == one_run["silver.vehicle_pass"] > 0
    assert {day for _, day, _, _ in one_run["verdicts"]} >= {FIRST, SECOND}
