"""The Dagster resources of the code location, one per system a step talks to: the platform profile (environment,
state folder, object-store credentials), the Iceberg catalog, the DuckDB warehouse, the landing area and Kafka.

Production secrets are resource fields configured from dg.EnvVar (the environment profile names each variable), so
the UI shows which variable a value comes from, never the value, and a launch without one fails before any step
runs. Steps that take the whole Settings (the step functions of ingestion, transforms, rules) get them through
`step_settings`, which hands over exactly the values Dagster resolved for the run.
"""
from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject
from pydantic import PrivateAttr
from pyiceberg.catalog import Catalog

from safecity.config.profiles import Settings, load_settings
from safecity.ingestion.landing import Landing, open_landing
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.warehouse import connect
from safecity.transforms import PROJECT_DIR
from safecity.transforms.invocation import dbt_executable, prepare_manifest, profiles_dir

# Writers of the DuckDB warehouse file share one pool: DuckDB allows one writing process per file, and
# concurrent runs would otherwise fail on its lock.
WAREHOUSE_POOL = "duckdb_warehouse"

# Each secret field and the profile pointer it stands for (config/environments/*.yaml names the variable).
STORAGE_SECRETS = {"s3_endpoint": "/storage/endpoint_env", "s3_access_key": "/storage/access_key_env",
                   "s3_secret_key": "/storage/secret_key_env"}
CATALOG_SECRET = "/catalog/url_env"
KAFKA_SECRET = "/kafka/bootstrap_servers_env"


class SafeCityResource(dg.ConfigurableResource):
    """The environment profile and state folder (None: SAFECITY_ENV / SAFECITY_HOME or their defaults) and the
    object store's credentials, which the catalog, the warehouse and landing all need."""

    environment: str | None = None
    home: str | None = None
    # The site folder (None: SAFECITY_SITE, else the shipped default site).
    site: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    # Read once per resource instance (a run, a sensor tick) and set of secrets, not once per call.
    _settings: dict = PrivateAttr(default_factory=dict)

    def settings(self, secrets: Mapping[str, str] | None = None) -> Settings:
        """The settings in force, with the object store's credentials and `secrets` ({pointer: value}) resolved."""
        resolved = {pointer: getattr(self, name) for name, pointer in STORAGE_SECRETS.items() if getattr(self, name)}
        resolved |= {pointer: value for pointer, value in (secrets or {}).items() if value}
        key = tuple(sorted(resolved.items()))
        if key not in self._settings:
            self._settings[key] = load_settings(self.environment, self.home, resolved, self.site)
        return self._settings[key]


class IcebergCatalogResource(dg.ConfigurableResource):
    """The Iceberg catalog: embedded SQLite under the state folder, or PostgreSQL at `url` in production."""

    safecity: SafeCityResource
    url: str | None = None

    def settings(self, secrets: Mapping[str, str] | None = None) -> Settings:
        return self.safecity.settings({CATALOG_SECRET: self.url, **(secrets or {})})

    def open(self) -> Catalog:
        return open_catalog(self.settings())


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file, its views reading the Iceberg tables of `catalog`."""

    catalog: IcebergCatalogResource

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(self.catalog.settings(), read_only=read_only)


class LandingResource(dg.ConfigurableResource):
    """Where the bureau's systems deliver files: the landing folder, or the bucket's landing/ prefix."""

    safecity: SafeCityResource

    def open(self) -> Landing:
        return open_landing(self.safecity.settings())


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the environment's stream sources read (None: the profile has none, or its variable is read
    when a step asks)."""

    bootstrap_servers: str | None = None

    def secrets(self) -> dict[str, str]:
        return {KAFKA_SECRET: self.bootstrap_servers} if self.bootstrap_servers else {}


def step_settings(catalog: IcebergCatalogResource, kafka: KafkaResource) -> Settings:
    """The settings a step function takes, with every secret the run's resources resolved."""
    return catalog.settings(kafka.secrets())


def platform_resources(environment: str | None = None, home: str | None = None,
                       variables: Mapping[str, str] | None = None,
                       site: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The platform's resources by key; `variables` ({profile pointer: environment variable}) configures each secret
    from its dg.EnvVar."""
    env = {pointer: dg.EnvVar(name) for pointer, name in (variables or {}).items()}
    safecity = SafeCityResource(environment=environment, home=home, site=site,
                                **{name: env[pointer] for name, pointer in STORAGE_SECRETS.items() if pointer in env})
    catalog = IcebergCatalogResource(safecity=safecity, url=env.get(CATALOG_SECRET))
    return {"safecity": safecity, "catalog": catalog, "warehouse": WarehouseResource(catalog=catalog),
            "landing": LandingResource(safecity=safecity), "kafka": KafkaResource(bootstrap_servers=env.get(KAFKA_SECRET))}


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources for these settings, each secret the profile reads configured from its environment variable."""
    # The profile by its file, so that a profile given as a path is the one the runs read too.
    return platform_resources(str(settings.environment_file), str(settings.paths.home), settings.secret_variables(),
                              None if settings.site.default else str(settings.site.root))


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project with the home's profile and its manifest in the state folder, prepared (parsed) when the
    project or the profile changed (transforms/invocation.py)."""
    prepare_manifest(settings)
    return DbtProject(project_dir=PROJECT_DIR, profiles_dir=profiles_dir(settings),
                      target_path=settings.paths.dbt_target)


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
