"""Resources shared by every domain: the settings in force, and the dbt CLI pointed at the project."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from safecity.lakehouse.warehouse import dbt_environment
from safecity.config.profiles import Settings, load_settings
from safecity.transforms import PROJECT_DIR

# Writers of the DuckDB warehouse file share one pool: DuckDB allows one writing process per file, and
# concurrent runs would otherwise fail on its lock.
WAREHOUSE_POOL = "duckdb_warehouse"


class SafeCityResource(dg.ConfigurableResource):
    """The environment profile and state folder; None means SAFECITY_ENV / SAFECITY_HOME (or their defaults)."""

    environment: str | None = None
    home: str | None = None

    def settings(self) -> Settings:
        return load_settings(self.environment, self.home)


def dbt_executable() -> str:
    # The venv's dbt, never a stray `dbtf` (dbt Fusion) or another dbt on PATH.
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def prepare_dbt(settings: Settings) -> DbtProject:
    """The dbt project with its manifest in the state folder, parsed when missing or older than the project."""
    os.environ.update(dbt_environment(settings))
    target = settings.paths.dbt_target
    os.environ["DBT_TARGET_PATH"] = str(target)
    os.environ["DBT_LOG_PATH"] = str(target.parent / "logs")
    project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR, target_path=target)
    sources = [p for p in PROJECT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"}]
    newest = max(p.stat().st_mtime for p in sources)
    if not project.manifest_path.exists() or project.manifest_path.stat().st_mtime < newest:
        DbtCliResource(project_dir=PROJECT_DIR, profiles_dir=str(PROJECT_DIR), dbt_executable=dbt_executable()) \
            .cli(["parse", "--quiet"], target_path=target).wait()
    return project


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=str(PROJECT_DIR), profiles_dir=str(PROJECT_DIR), dbt_executable=dbt_executable())
