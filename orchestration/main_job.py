"""The main job: the whole asset graph on the embedded default, then a summary a person reads in a minute."""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import dagster as dg

from safecity.config.profiles import CONFIG_DIR, Settings
from safecity.orchestration.definitions import MAIN_JOB, build_definitions
from safecity.orchestration.summary import RunSummary, collect

log = logging.getLogger(__name__)
SAMPLE_LANDING = CONFIG_DIR / "samples" / "landing"

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


def seed_landing(settings: Settings) -> list[Path]:
    """Give an empty landing folder the bundled sample exports, so the first run has the city's data to show."""
    copied = []
    for sample in sorted(p for p in SAMPLE_LANDING.rglob("*") if p.is_file()):
        relative = sample.relative_to(SAMPLE_LANDING)
        folder = settings.paths.landing / relative.parent
        if folder.exists() and any(p.is_file() for p in folder.iterdir()):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sample, folder / relative.name)
        copied.append(folder / relative.name)
    for path in copied:
        log.info("landing was empty: seeded %s with the bundled sample export", path)
    return copied


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
    return collect(settings, result.success, result.run_id, time.monotonic() - started, checks, failed)
