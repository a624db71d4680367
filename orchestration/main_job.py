"""The main job: the whole asset graph on the embedded default, then a summary a person reads in a minute."""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path

import dagster as dg

from safecity.config.profiles import Settings
from safecity.orchestration.definitions import MAIN_JOB, build_definitions
from safecity.orchestration.report import write_report
from safecity.orchestration.summary import RunSummary, collect

log = logging.getLogger(__name__)
# The day the main job shows on a fresh install: a summer day, Beidaihe's tourist season.
SIMULATED_DAY = dt.date(2026, 7, 15)
SIMULATED_SCALE = "small"
SIMULATED_SEED = 1

DAGSTER_YAML = """\
# Written by safecity on first use. Runs and event logs live in SQLite under this folder.
telemetry:
  enabled: false
concurrency:
  pools:
    # One writer at a time per pool: the DuckDB warehouse file takes one writing process.
    default_limit: 1
"""


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def seed_landing(settings: Settings) -> Path | None:
    """Give an empty landing area a simulated day of the city (the simulator's small scale), delivered as the
    bureau's systems deliver it: each export in its folder, the catalog CSVs where the CSV mapping expects them, and
    the day's manifest (its clock and ground truth) at the root. Returns the manifest, or None if landing had data."""
    landing = settings.paths.landing
    if landing.exists() and any(p.is_file() for p in landing.rglob("*")):
        return None
    from safecity.simulator.run import simulate
    log.info("landing is empty: simulating %s (scale %s, seed %d) into %s", SIMULATED_DAY, SIMULATED_SCALE,
             SIMULATED_SEED, landing)
    simulate(settings.city.id, SIMULATED_DAY, 1, SIMULATED_SCALE, SIMULATED_SEED, landing)
    # The platform drops its per-district CSV exports in cameras/ (config/sources/video_platform_catalog_csv.yaml).
    (landing / "cameras").mkdir(exist_ok=True)
    for export in sorted((landing / "catalog").glob("*.csv")):
        shutil.move(str(export), landing / "cameras" / export.name)
    return landing / "manifest.json"


def run_main_job(settings: Settings, seed: bool = True) -> RunSummary:
    started = time.monotonic()
    if seed:
        seed_landing(settings)
    prepare_dagster_home(settings)
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(MAIN_JOB)
    with dg.DagsterInstance.get() as instance:
        # Dagster's console logger at INFO: a line per step and asset, without the DEBUG engine events.
        run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
    checks = {f"{e.asset_key.to_user_string()} · {e.check_name}": e.passed
              for e in result.get_asset_check_evaluations()}
    failed = [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]
    summary = collect(settings, result.success, result.run_id, time.monotonic() - started, checks, failed)
    if settings.paths.duckdb_file.exists():
        report = write_report(settings, summary)
        summary.where_next = {"report": f"{report} (地图与图表 / map and charts)", **summary.where_next}
    return summary
