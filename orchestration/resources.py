"""Resources shared by every domain: the settings in force, and the dbt CLI pointed at the project."""
from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr
from dagster_dbt import DbtCliResource, DbtProject

from safecity.config.profiles import Settings, load_settings
from safecity.transforms import PROJECT_DIR
from safecity.transforms.invocation import dbt_executable, prepare_manifest, profiles_dir

# Writers of the DuckDB warehouse file share one pool: DuckDB allows one writing process per file, and
# concurrent runs would otherwise fail on its lock.
WAREHOUSE_POOL = "duckdb_warehouse"


class SafeCityResource(dg.ConfigurableResource):
    """The environment profile and state folder; None means SAFECITY_ENV / SAFECITY_HOME (or their defaults)."""

    environment: str | None = None
    home: str | None = None
    # Read once per resource instance (a run, a sensor tick), not once per call.
    _settings: Settings | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.environment, self.home)
        return self._settings


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project with the home's profile and its manifest in the state folder, prepared (parsed) when the
    project or the profile changed (transforms/invocation.py)."""
    prepare_manifest(settings)
    return DbtProject(project_dir=PROJECT_DIR, profiles_dir=profiles_dir(settings),
                      target_path=settings.paths.dbt_target)


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
