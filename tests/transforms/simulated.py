"""A simulated small day in a SAFECITY_HOME, built the way production builds it: the main job's landing seed (the
simulator's day with its manifest), then the whole asset graph of the code location (ingestion, camera health,
the dbt assets with their checks and gold, the rules) in an ephemeral Dagster instance."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg

from safecity.config.profiles import Settings, load_settings


def build_simulated_day(root: Path):
    """Returns the settings, the simulator's manifest, the run's result and the dbt step's seconds."""
    from safecity.orchestration.definitions import build_definitions
    from safecity.orchestration.main_job import run_job, seed_landing

    settings = load_settings("local", root / "home")
    manifest_path = seed_landing(settings)
    definitions = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_job(definitions, settings, instance)
        stats = {s.step_key: s for s in instance.get_run_step_stats(result.run_id)}
    dbt_step = stats.get("analysis_models")
    seconds = dbt_step.end_time - dbt_step.start_time if dbt_step and dbt_step.end_time else None
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    return settings, manifest, result, seconds


def step_succeeded(result, step_key: str) -> bool:
    return any(e.is_step_success and e.step_key == step_key for e in result.all_events)


if __name__ == "__main__":  # a warehouse to develop against: python tests/transforms/simulated.py /tmp/where
    settings, _, result, seconds = build_simulated_day(Path(sys.argv[1]))
    print(settings.paths.duckdb_file, result.success, seconds)
