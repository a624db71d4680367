"""The main job: the whole asset graph on the embedded default, then a summary a person reads in a minute."""
from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import dagster as dg

from safecity.config.profiles import Settings
from safecity.ingestion.landing import delivery_day, open_landing
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import landing_files
from safecity.orchestration.definitions import MAIN_JOB, build_definitions
from safecity.orchestration.defs.ingestion import SOURCES_TAG, sources_of
from safecity.orchestration.defs.partitions import day_key, local_day, partitioned_assets
from safecity.orchestration.report import write_report
from safecity.orchestration.summary import RunSummary, collect
from safecity.standards.catalogue import load_catalogue

log = logging.getLogger(__name__)
# The day the main job shows on a fresh install: a summer day, Beidaihe's tourist season.
SIMULATED_DAY = dt.date(2026, 7, 15)
SIMULATED_SCALE = "small"
SIMULATED_SEED = 1
# Dagster's run tags for a run of one partition or of a range of them (one run for a backfill).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

DAGSTER_YAML = """\
# Written by safecity on first use. Runs and event logs live in SQLite under this folder.
telemetry:
  enabled: false
concurrency:
  pools:
    # One writer at a time per pool: the DuckDB warehouse file takes one writing process.
    default_limit: 1
python_logs:
  # The steps (ingestion, analytics, rules) log through Python's logging under "safecity": shown in each step's log.
  managed_python_loggers: [safecity]
  python_log_level: INFO
"""


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def seed_landing(settings: Settings, force: bool = False) -> Path | None:
    """Give the default site's empty landing area (any landing with `force`: `safecity run --simulate`) a simulated
    day of the city (the simulator's small scale), delivered as the bureau's systems deliver it: each export in the
    folder its mapping reads, and the day's manifest (its clock and ground truth) at the root. Returns the manifest,
    or None when nothing was simulated: another site's landing holds its own exports, never a made-up day."""
    landing = settings.paths.landing
    if not force and (not settings.site.default or (landing.exists() and any(p.is_file() for p in landing.rglob("*")))):
        return None
    from safecity.simulator.run import simulate
    log.info("landing is empty: simulating %s (scale %s, seed %d) into %s", SIMULATED_DAY, SIMULATED_SCALE,
             SIMULATED_SEED, landing)
    simulate(settings.city.id, SIMULATED_DAY, 1, SIMULATED_SCALE, SIMULATED_SEED, landing)
    return landing / "manifest.json"


def delivery_days(settings: Settings, definitions: dg.Definitions) -> list[dt.date]:
    """The days the landing files of the daily-partitioned sources deliver, in order."""
    catalogue = load_catalogue(settings.city.id)
    landing = open_landing(settings)
    sources = {source for asset in partitioned_assets(definitions) if SOURCES_TAG in asset.op.tags
               for source in sources_of(asset)}
    days = {delivery_day(name) for source in sorted(sources)
            for name in landing_files(landing, load_mapping(mapping_path(source), catalogue))}
    return sorted(day for day in days if day is not None)


def partition_tags(days: list[dt.date]) -> dict[str, str]:
    """Run tags for the days in landing as one run (a single-run backfill of their range); today's partition when
    landing holds no dated file (the streams only)."""
    if not days:
        return {PARTITION_TAG: local_day(dt.datetime.now(dt.timezone.utc))}
    if days[0] == days[-1]:
        return {PARTITION_TAG: day_key(days[0])}
    return {RANGE_START_TAG: day_key(days[0]), RANGE_END_TAG: day_key(days[-1])}


def run_job(definitions: dg.Definitions, settings: Settings, instance: dg.DagsterInstance,
            run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """The main job over every day landing delivers, in one run."""
    job = definitions.resolve_job_def(MAIN_JOB)
    tags = partition_tags(delivery_days(settings, definitions))
    log.info("main job for %s", days_label(tags))
    return job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config, tags=tags)


def days_label(tags: dict[str, str]) -> str:
    """The run's day or range of days, as a person reads it."""
    return " … ".join(dict.fromkeys(v for k, v in tags.items() if k in (PARTITION_TAG, RANGE_START_TAG, RANGE_END_TAG)))


def run_main_job(settings: Settings, seed: bool = True, simulate: bool = False) -> RunSummary:
    """The main job on whatever is in landing; `simulate` first adds a simulated day, `seed` one only when the
    default site's landing is empty."""
    started = time.monotonic()
    if seed or simulate:
        seed_landing(settings, force=simulate)
    prepare_dagster_home(settings)
    definitions = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        # Dagster's console logger at INFO: a line per step and asset, without the DEBUG engine events.
        run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        result = run_job(definitions, settings, instance, run_config)
    evaluations = {f"{e.asset_key.to_user_string()} · {e.check_name}": e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    warnings = sorted(name for name, e in evaluations.items()
                      if not e.passed and e.severity == dg.AssetCheckSeverity.WARN)
    failed = [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]
    summary = collect(settings, result.success, result.run_id, time.monotonic() - started, checks, failed,
                      days=days_label(result.dagster_run.tags), check_warnings=warnings)
    if settings.paths.duckdb_file.exists():
        report = write_report(settings, summary)
        summary.where_next = {"report": f"{report} (地图与图表 / map and charts)", **summary.where_next}
    return summary
