"""Source freshness as Dagster sees it: a landing folder's observation reports its newest file's arrival, and the
source's freshness check fails once nothing arrived within the mapping's fresh_within_hours — even though the
ingestion asset would still succeed on an empty folder."""
import shutil
import time

import dagster as dg

from safecity.orchestration.defs.freshness import UNCLAIMED, landing_key, source_freshness
from safecity.orchestration.resources import platform_resources
from tests.conftest import SAMPLE_EXPORT

SOURCE = "video_platform_catalog_csv"   # landing cameras/, fresh_within_hours 26


def definitions(settings, catalogue):
    observables, checks, sensor, job, _ = source_freshness([SOURCE], catalogue)
    resources = platform_resources(settings.environment.name, str(settings.paths.home))
    checks_job = dg.define_asset_job("freshness_checks", selection=dg.AssetSelection.checks(*checks))
    return dg.Definitions(assets=observables, asset_checks=checks, sensors=[sensor], jobs=[job, checks_job],
                          resources=resources)


def check_passed(defs, instance, key=landing_key(SOURCE)) -> bool:
    result = defs.resolve_job_def("freshness_checks").execute_in_process(instance=instance)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_key == key]
    return evaluation.passed


def test_a_file_that_just_arrived_is_fresh_and_its_time_is_observed(settings, catalogue):
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE_EXPORT, folder / "today.csv")
    defs = definitions(settings, catalogue)
    with dg.DagsterInstance.ephemeral() as instance:
        before = time.time()
        assert defs.resolve_job_def("observe_landing").execute_in_process(instance=instance).success
        observation = instance.fetch_observations(landing_key(SOURCE), limit=1).records[0].asset_observation
        assert observation.metadata["files"].value == 1
        arrived = observation.metadata["dagster/last_updated_timestamp"].value
        assert before - 60 < arrived <= time.time()
        assert check_passed(defs, instance)


def test_a_source_silent_for_longer_than_its_limit_fails_its_check(settings, catalogue):
    defs = definitions(settings, catalogue)
    with dg.DagsterInstance.ephemeral() as instance:
        # What the hourly observation reports when the newest file arrived 30 hours ago (limit: 26 hours).
        instance.report_runless_asset_event(dg.AssetObservation(landing_key(SOURCE), metadata={
            "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(time.time() - 30 * 3600)}))
        assert not check_passed(defs, instance)
        instance.report_runless_asset_event(dg.AssetObservation(landing_key(SOURCE), metadata={
            "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(time.time() - 2 * 3600)}))
        assert check_passed(defs, instance)


def test_a_file_no_mapping_reads_is_observed_and_fails_its_check(settings, catalogue):
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE_EXPORT, folder / "registry.csv")
    defs = definitions(settings, catalogue)
    def observe(instance):
        result = defs.resolve_job_def("observe_landing").execute_in_process(instance=instance)
        [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_key == UNCLAIMED]
        return evaluation

    with dg.DagsterInstance.ephemeral() as instance:
        assert observe(instance).passed
        (settings.paths.landing / "parking").mkdir()
        (settings.paths.landing / "parking" / "spaces.csv").write_text("id\n1\n", encoding="utf-8")
        evaluation = observe(instance)
        observation = instance.fetch_observations(UNCLAIMED, limit=1).records[0].asset_observation
        assert observation.metadata["names"].value == ["parking/spaces.csv"]
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.metadata["unclaimed_files"].value == 1
