"""The resource carries the production secrets as Dagster EnvVars named by the environment profile: the UI shows the
variable, never the value, and a run cannot start without it."""
import dagster as dg
import pytest

from safecity.config.profiles import load_settings
from safecity.orchestration.resources import SafeCityResource, safecity_resource

VARIABLES = {"s3_endpoint": "SAFECITY_S3_ENDPOINT", "s3_access_key": "SAFECITY_S3_ACCESS_KEY",
             "s3_secret_key": "SAFECITY_S3_SECRET_KEY", "catalog_url": "SAFECITY_CATALOG_URL",
             "kafka_bootstrap": "SAFECITY_KAFKA_BOOTSTRAP"}


def test_production_secrets_are_env_vars_named_by_the_profile(tmp_path):
    resource = safecity_resource(load_settings("production", tmp_path))
    assert {name: getattr(resource, name) for name in VARIABLES} == VARIABLES
    assert all(isinstance(getattr(resource, name), dg.EnvVar) for name in VARIABLES)


def test_the_embedded_default_has_no_secrets(tmp_path):
    resource = safecity_resource(load_settings("local", tmp_path))
    assert all(getattr(resource, name) is None for name in VARIABLES)


def test_the_resource_gives_the_settings_the_values_dagster_resolved(tmp_path, monkeypatch):
    for name, variable in VARIABLES.items():
        monkeypatch.setenv(variable, f"value-of-{name}")
    with dg.build_resources({"safecity": safecity_resource(load_settings("production", tmp_path))}) as resources:
        settings = resources.safecity.settings()
        # The variables may change after the run started; the run keeps what its resources resolved.
        monkeypatch.setenv("SAFECITY_S3_ACCESS_KEY", "changed")
        assert settings.secret("/storage/access_key_env") == "value-of-s3_access_key"
        assert settings.catalog_uri == "value-of-catalog_url"
        assert resources.safecity.settings() is settings


def test_a_missing_secret_stops_the_run_naming_its_variable(tmp_path, monkeypatch):
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(Exception, match="SAFECITY_S3_ENDPOINT"):
        with dg.build_resources({"safecity": safecity_resource(load_settings("production", tmp_path))}):
            pass


def test_a_resource_without_secrets_reads_the_profiles_variables_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFECITY_S3_ACCESS_KEY", "from-the-environment")
    settings = SafeCityResource(environment="production", home=str(tmp_path)).settings()
    assert settings.secret("/storage/access_key_env") == "from-the-environment"
