"""A simulated small day in a SAFECITY_HOME: the simulator's exports land, the ingestion, reference and camera
health assets run through Dagster (as in production), and dbt builds the analysis layers on top."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from safecity.config.profiles import Settings, load_settings
from safecity.simulator.run import simulate

DAY = dt.date(2026, 7, 1)
SEED = 11


def land_simulated_day(root: Path) -> tuple[Settings, dict]:
    """Simulate, land and ingest one small day under `root`; returns the settings and the simulator's manifest."""
    from safecity.orchestration.defs.cameras.assets import camera_registry, device_status
    from safecity.orchestration.defs.cameras.health import camera_state, snapshot_diagnosis
    from safecity.orchestration.defs.cases.assets import cases
    from safecity.orchestration.defs.incidents.assets import alarm_calls
    from safecity.orchestration.defs.standards.assets import reference_tables
    from safecity.orchestration.defs.traffic.assets import detector_flows, traffic_incidents, vehicle_passes
    from safecity.orchestration.resources import SafeCityResource

    out = root / "simulated"
    simulate("qinhuangdao", DAY, 1, "small", SEED, out)
    home = root / "home"
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        shutil.copytree(folder, home / "landing" / folder.name, dirs_exist_ok=True)
    # The simulator writes both catalog formats to catalog/; the CSV mapping reads its exports from cameras/.
    for export in sorted((out / "catalog").glob("*.csv")):
        (home / "landing" / "cameras").mkdir(parents=True, exist_ok=True)
        shutil.copy2(export, home / "landing" / "cameras" / export.name)
    resources = {"safecity": SafeCityResource(environment="local", home=str(home))}
    assets = [reference_tables, camera_registry, device_status, vehicle_passes, detector_flows, traffic_incidents,
              alarm_calls, cases, snapshot_diagnosis, camera_state]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(assets, resources=resources, instance=instance)
    assert result.success
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return load_settings("local", home), manifest


def dbt(settings: Settings, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the venv's dbt on the project against `settings`' warehouse; returns the process and its seconds."""
    from safecity.orchestration.resources import dbt_executable, prepare_dbt
    from safecity.transforms import PROJECT_DIR

    prepare_dbt(settings)  # sets the environment profiles.yml reads
    started = time.monotonic()
    completed = subprocess.run([dbt_executable(), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir",
                                str(PROJECT_DIR), "--target-path", str(settings.paths.dbt_target)],
                               capture_output=True, text=True, timeout=900)
    return completed, time.monotonic() - started


if __name__ == "__main__":  # a warehouse to develop against: python tests/transforms/simulated.py /tmp/where
    settings, _ = land_simulated_day(Path(sys.argv[1]))
    print(settings.paths.duckdb_file)
