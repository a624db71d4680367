"""The asset graph, jobs and resources of the code location, built for given settings: every domain's own
definitions (found in orchestration/defs/, see its __init__), then what spans them — the ingestion sensors, source
freshness, the main job, the stream micro-batches, run-failure alerts — and the resources."""
from __future__ import annotations

import dagster as dg

from safecity.config.profiles import Settings, load_settings
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.orchestration.defs import DomainContext, domain_definitions
from safecity.orchestration.defs.freshness import source_freshness
from safecity.orchestration.defs.ingestion import SOURCES_TAG, site_ingestion, sources_of
from safecity.orchestration.defs.operations import daily_build, run_failure_reporter, stream_micro_batches
from safecity.orchestration.defs.rules.delivery import DELIVERY
from safecity.orchestration.defs.service import service_definitions
from safecity.orchestration.defs.sensors import lag_sensor, landing_sensor
from safecity.orchestration.resources import dbt_project, dbt_resource, resources_for
from safecity.standards.catalogue import Catalogue, load_catalogue

MAIN_JOB = "main"


def ingestion_assets(domains: dg.Definitions) -> list[dg.AssetsDefinition]:
    """The ingestion assets of every domain (they name their sources in an op tag)."""
    return [a for a in domains.assets or [] if isinstance(a, dg.AssetsDefinition) and a.is_executable
            and SOURCES_TAG in (a.node_def.tags or {})]


def platform_definitions(ingestion: list[dg.AssetsDefinition], catalogue: Catalogue) -> dg.Definitions:
    """What spans the domains: the main job, ingestion sensors, source freshness, stream micro-batches, alerts."""
    streaming = [a for a in ingestion if any(load_mapping(mapping_path(s), catalogue).mapping.topic
                                             for s in sources_of(a))]
    observables, freshness_checks, freshness_sensor, observe_job, observe_schedule = source_freshness(
        [s for asset in ingestion for s in sources_of(asset)], catalogue)
    # Delivery (ops/action_delivery) runs in its own job, rules_delivery: it talks to the sinks' servers.
    main = dg.define_asset_job(MAIN_JOB, selection=dg.AssetSelection.all() - dg.AssetSelection.assets(DELIVERY),
                               description="全部资产：接入、质检、分析模型与策略 / The whole graph: ingestion, "
                                           "conformance, analysis models and policies")
    streams, every_five_minutes = stream_micro_batches(streaming)
    return dg.Definitions(
        assets=observables, asset_checks=freshness_checks,
        sensors=[*(landing_sensor(a, sources_of(a)) for a in ingestion),
                 *(lag_sensor(a, sources_of(a)) for a in streaming), run_failure_reporter(), freshness_sensor],
        jobs=[main, streams, observe_job],
        schedules=[daily_build(MAIN_JOB), every_five_minutes, observe_schedule])


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    catalogue = load_catalogue(settings.city.id)
    project = dbt_project(settings)
    domains = dg.Definitions.merge(*domain_definitions(DomainContext(settings, catalogue, project)).values(),
                                   dg.Definitions(assets=list(site_ingestion(settings.site).values())))
    resources = {**resources_for(settings), "dbt": dbt_resource(project)}
    return dg.Definitions.merge(domains, platform_definitions(ingestion_assets(domains), catalogue),
                                service_definitions(), dg.Definitions(resources=resources))
