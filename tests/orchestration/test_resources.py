"""One resource per system a step talks to (profile and object store, Iceberg catalog, warehouse, landing, Kafka),
each production secret a Dagster EnvVar named by the environment profile: the UI shows the variable, never the value,
and a run cannot start without it."""
import dagster as dg
import pytest

from safecity.config.profiles import load_settings
from safecity.orchestration.resources import SafeCityResource, resources_for, step_settings

# (resource key, field): the variable production.yaml names for it.
VARIABLES = {("safecity", "s3_endpoint"): "SAFECITY_S3_ENDPOINT", ("safecity", "s3_access_key"): "SAFECITY_S3_ACCESS_KEY",
             ("safecity", "s3_secret_key"): "SAFECITY_S3_SECRET_KEY", ("catalog", "url"): "SAFECITY_CATALOG_URL",
             ("kafka", "bootstrap_servers"): "SAFECITY_KAFKA_BOOTSTRAP"}


def test_production_secrets_are_env_vars_named_by_the_profile_on_the_resource_that_uses_them(tmp_path):
    resources = resources_for(load_settings("production", tmp_path))
    found = {(key, field): getattr(resources[key], field) for key, field in VARIABLES}
    assert found == VARIABLES
    assert all(isinstance(value, dg.EnvVar) for value in found.values())
    # The catalog, warehouse and landing share the one profile resource (and its object-store credentials).
    assert resources["catalog"].safecity is resources["safecity"] is resources["landing"].safecity
    assert resources["warehouse"].catalog is resources["catalog"]


def test_the_embedded_default_has_no_secrets(tmp_path):
    resources = resources_for(load_settings("local", tmp_path))
    assert all(getattr(resources[key], field) is None for key, field in VARIABLES)


def test_the_resources_give_the_settings_the_values_dagster_resolved(tmp_path, monkeypatch):
    for (key, field), variable in VARIABLES.items():
        monkeypatch.setenv(variable, f"value-of-{field}")
    with dg.build_resources(resources_for(load_settings("production", tmp_path))) as resources:
        settings = step_settings(resources.catalog, resources.kafka)
        # The variables may change after the run started; the run keeps what its resources resolved.
        monkeypatch.setenv("SAFECITY_S3_ACCESS_KEY", "changed")
        monkeypatch.setenv("SAFECITY_KAFKA_BOOTSTRAP", "changed")
        assert settings.secret("/storage/access_key_env") == "value-of-s3_access_key"
        assert settings.secret("/kafka/bootstrap_servers_env") == "value-of-bootstrap_servers"
        assert settings.catalog_uri == "value-of-url"
        assert step_settings(resources.catalog, resources.kafka) is settings


def test_a_missing_secret_stops_the_run_naming_its_variable(tmp_path, monkeypatch):
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(Exception, match="SAFECITY_"):
        with dg.build_resources(resources_for(load_settings("production", tmp_path))):
            pass


def test_a_resource_without_secrets_reads_the_profiles_variables_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFECITY_S3_ACCESS_KEY", "from-the-environment")
    settings = SafeCityResource(environment="production", home=str(tmp_path)).settings()
    assert settings.secret("/storage/access_key_env") == "from-the-environment"


def test_the_local_landing_resource_opens_the_state_folders_landing(tmp_path):
    (tmp_path / "landing" / "calls").mkdir(parents=True)
    (tmp_path / "landing" / "calls" / "a.csv").write_text("x\n")
    with dg.build_resources(resources_for(load_settings("local", tmp_path))) as resources:
        assert list(resources.landing.open().arrivals("calls", "*.csv")) == ["calls/a.csv"]
        with resources.warehouse.connect() as con:
            assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "Asia/Shanghai"
