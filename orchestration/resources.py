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


# The resource's secret fields and the profile pointer each stands for (config/environments/*.yaml names the
# environment variable; resources_for configures the field from it with dg.EnvVar).
SECRET_FIELDS = {"s3_endpoint": "/storage/endpoint_env", "s3_access_key": "/storage/access_key_env",
                 "s3_secret_key": "/storage/secret_key_env", "catalog_url": "/catalog/url_env",
                 "kafka_bootstrap": "/kafka/bootstrap_servers_env"}


class SafeCityResource(dg.ConfigurableResource):
    """The environment profile and state folder (None means SAFECITY_ENV / SAFECITY_HOME or their defaults), and
    the production secrets: configured from dg.EnvVar, so Dagster shows which variable each comes from, never its
    value, and a launch without one fails before any step runs."""

    environment: str | None = None
    home: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    catalog_url: str | None = None
    kafka_bootstrap: str | None = None
    # Read once per resource instance (a run, a sensor tick), not once per call.
    _settings: Settings | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._settings is None:
            secrets = {pointer: getattr(self, name) for name, pointer in SECRET_FIELDS.items() if getattr(self, name)}
            self._settings = load_settings(self.environment, self.home, secrets)
        return self._settings


def safecity_resource(settings: Settings) -> SafeCityResource:
    """The resource for these settings, each secret the profile reads configured from its environment variable."""
    variables = settings.secret_variables()
    return SafeCityResource(environment=settings.environment.name, home=str(settings.paths.home),
                            **{name: dg.EnvVar(variables[pointer]) for name, pointer in SECRET_FIELDS.items()
                               if pointer in variables})


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project with the home's profile and its manifest in the state folder, prepared (parsed) when the
    project or the profile changed (transforms/invocation.py)."""
    prepare_manifest(settings)
    return DbtProject(project_dir=PROJECT_DIR, profiles_dir=profiles_dir(settings),
                      target_path=settings.paths.dbt_target)


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
