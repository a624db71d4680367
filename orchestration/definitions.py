"""The asset graph, jobs and resources of the code location, built for given settings."""
from __future__ import annotations

import dagster as dg

from safecity.config.profiles import Settings, load_settings
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.orchestration.defs.cameras.assets import camera_registry, device_status
from safecity.orchestration.defs.cameras.health import camera_state, snapshot_diagnosis
from safecity.orchestration.defs.cases.assets import cases
from safecity.orchestration.defs.incidents.assets import alarm_calls
from safecity.orchestration.defs.freshness import source_freshness
from safecity.orchestration.defs.ingestion import sources_of
from safecity.orchestration.defs.lakehouse.maintenance import lakehouse_maintenance, nightly_maintenance
from safecity.orchestration.defs.operations import daily_build, run_failure_reporter, stream_micro_batches
from safecity.orchestration.defs.partitions import check_zone
from safecity.orchestration.defs.rules.assets import policy_outbox
from safecity.orchestration.defs.sensors import lag_sensor, landing_sensor
from safecity.orchestration.defs.standards.assets import data_dictionary, reference_tables
from safecity.orchestration.defs.support.assets import budgets, duty_rosters, work_orders
from safecity.orchestration.defs.traffic.assets import detector_flows, detectors, traffic_incidents, vehicle_passes
from safecity.orchestration.defs.transforms.assets import build_dbt_assets
from safecity.orchestration.resources import SafeCityResource, dbt_project, dbt_resource
from safecity.standards.catalogue import load_catalogue

MAIN_JOB = "main"


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    check_zone(settings.city.timezone)
    catalogue = load_catalogue(settings.city.id)
    project = dbt_project(settings)
    ingestion = [camera_registry, device_status, vehicle_passes, detectors, detector_flows, traffic_incidents,
                 alarm_calls, cases, duty_rosters, work_orders, budgets]
    health = [snapshot_diagnosis, camera_state]
    sources_by_group: dict[str, list[str]] = {}
    for asset in ingestion:
        sources_by_group.setdefault(next(iter(asset.group_names_by_key.values())), []).extend(sources_of(asset))
    observables, freshness_checks, freshness_sensor, observe_job, observe_schedule = source_freshness(
        sources_by_group, catalogue)
    assets = [reference_tables, data_dictionary, *observables, *ingestion, *health, *build_dbt_assets(project),
              policy_outbox]
    main = dg.define_asset_job(MAIN_JOB, selection=dg.AssetSelection.all(),
                               description="全部资产：接入、质检、分析模型与策略 / The whole graph: ingestion, "
                                           "conformance, analysis models and policies")
    sensors = [landing_sensor(a, sources_of(a)) for a in ingestion]
    sensors += [lag_sensor(a, sources_of(a)) for a in ingestion if any(
        load_mapping(mapping_path(s), catalogue).mapping.topic for s in sources_of(a))]
    sensors += [run_failure_reporter(), freshness_sensor]
    streams, every_five_minutes = stream_micro_batches([vehicle_passes, device_status])
    return dg.Definitions(
        assets=assets,
        sensors=sensors,
        asset_checks=freshness_checks,
        jobs=[main, lakehouse_maintenance, streams, observe_job],
        schedules=[nightly_maintenance, daily_build(MAIN_JOB), every_five_minutes, observe_schedule],
        resources={
            "safecity": SafeCityResource(environment=settings.environment.name, home=str(settings.paths.home)),
            "dbt": dbt_resource(project),
        },
    )

