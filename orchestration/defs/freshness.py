"""Freshness of the sources, and landing files nobody reads, as Dagster sees them: each source's landing folder is an observable source asset
(`landing/<source>`) whose observation reports when its newest file arrived (`dagster/last_updated_timestamp`),
and a last-update freshness check per source fails when nothing arrived within the mapping's `fresh_within_hours`.

So a source that stops delivering fails its check even while the ingestion asset keeps running (it would find
nothing new and still succeed). Observations run hourly (the `observe_landing` schedule); the freshness checks
are evaluated by their own sensor. A source whose folder never held a file reports no time: it is not connected
yet, and its check says so rather than failing. `landing/unclaimed` lists the files no mapping reads, and its
check warns while there are any.
"""
from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.unclaimed import source_mappings, unclaimed_files
from safecity.orchestration.defs.partitions import site_zone
from safecity.orchestration.resources import LandingResource
from safecity.standards.catalogue import Catalogue, load_catalogue

OBSERVE_JOB = "observe_landing"
UNCLAIMED = dg.AssetKey(["landing", "unclaimed"])


def landing_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", source])


LANDING_GROUP = "landing"


def landing_observation(source: str) -> dg.SourceAsset:
    # One group for every landing folder: beside their entities' assets they would double each domain's graph.
    @dg.observable_source_asset(key=landing_key(source), group_name=LANDING_GROUP,
                                description=f"{source} 的落地文件夹：最新文件的到达时间 / The landing folder of {source}: "
                                            "when its newest file arrived")
    def _observe(landing: LandingResource) -> dg.ObserveResult:
        mapping = load_mapping(mapping_path(source), load_catalogue(landing.safecity.settings().city.id)).mapping
        arrivals = landing.open().arrivals(mapping.landing, mapping.pattern) if mapping.landing else {}
        metadata: dict = {"files": len(arrivals), "folder": mapping.landing or "–"}
        if arrivals:
            metadata["dagster/last_updated_timestamp"] = dg.MetadataValue.timestamp(max(arrivals.values()))
        return dg.ObserveResult(metadata=metadata)

    return _observe


def unclaimed_observation() -> dg.AssetsDefinition:
    """landing/unclaimed, observing the files no mapping reads, with its check (a warning while there are any)
    judged from the same listing."""

    @dg.multi_observable_source_asset(
        name="unclaimed_landing", group_name=LANDING_GROUP,
        specs=[dg.AssetSpec(UNCLAIMED, description="落地区中没有任何映射读取的文件 / Files in landing that no source "
                                                   "mapping reads (delivered, yet never ingested, judged or counted)")],
        check_specs=[dg.AssetCheckSpec("every_file_claimed", asset=UNCLAIMED,
                                       description="落地区每个文件都有映射读取 / Every file in landing is read by some "
                                                   "mapping")])
    def unclaimed_landing(landing: LandingResource):
        names = unclaimed_files(landing.open(), source_mappings())
        check = dg.AssetCheckResult(
            check_name="every_file_claimed", passed=not names, severity=dg.AssetCheckSeverity.WARN,
            metadata={"unclaimed_files": len(names), "files": dg.MetadataValue.md(
                "\n".join(f"- {n}" for n in names[:50]) or "none"),
                "next_step": "为其写映射（config/sources/）或移出落地区 / add a mapping for them (config/sources/) or "
                             "move them out of landing"})
        yield dg.ObserveResult(asset_key=UNCLAIMED, metadata={"files": len(names),
                                                              "names": dg.MetadataValue.json(names[:200])},
                               check_results=[check])

    return unclaimed_landing


def source_freshness(sources: list[str], catalogue: Catalogue):
    """The observable landing assets, one last-update freshness check per source (its mapping's limit), the
    sensor that evaluates the checks, and the hourly observation job and schedule."""
    # Dagster 1.13 marks these functions beta or superseded by FreshnessPolicy, but a FreshnessPolicy judges
    # materialisations only (freshness_evaluator.py), and a source's arrival is an observation carrying
    # dagster/last_updated_timestamp, which the last-update checks read: the warnings say nothing to act on here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _source_freshness(sources, catalogue)


def _source_freshness(sources: list[str], catalogue: Catalogue):
    unclaimed = unclaimed_observation()
    observables = [landing_observation(source) for source in sources] + [unclaimed]
    checks = []
    for source in sources:
        hours = load_mapping(mapping_path(source), catalogue).mapping.checks.fresh_within_hours
        checks += dg.build_last_update_freshness_checks(assets=[landing_key(source)],
                                                        lower_bound_delta=dt.timedelta(hours=hours))
    sensor = dg.build_sensor_for_freshness_checks(freshness_checks=checks, name="source_freshness",
                                                  default_status=dg.DefaultSensorStatus.STOPPED)
    job = dg.define_asset_job(OBSERVE_JOB, selection=dg.AssetSelection.assets(*(key for o in observables for key in getattr(o, "keys", [o.key]))),
                              description="观察各数据源落地文件夹的最新到达时间 / Observe when each source's newest "
                                          "file arrived in landing")
    schedule = dg.ScheduleDefinition(name="observe_landing_hourly", job=job, cron_schedule="7 * * * *",
                                     execution_timezone=site_zone(), default_status=dg.DefaultScheduleStatus.STOPPED)
    return observables, checks, sensor, job, schedule
