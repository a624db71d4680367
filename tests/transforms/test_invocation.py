"""The profile dbt and SQLMesh read, rendered in one place for a home, the manifest fingerprint keyed on it, and where
the Dagster steps run dbt."""
import datetime as dt
import os

import yaml

from safecity.config.profiles import load_settings
from safecity.transforms.invocation import (DAY_FROM_ENV, DAY_TO_ENV, KEPT_INVOCATIONS, PARTIAL_PARSE_FILE, PROFILE_FILE,
                                            invocation_target, partition_days_environment, profile_text, profiles_dir,
                                            project_fingerprint)


def _output(text):
    return yaml.safe_load(text)["safecity"]["outputs"]["default"]


def test_dbt_and_sqlmesh_profiles_open_the_same_database_the_same_way(tmp_path):
    settings = load_settings("local", tmp_path / "home")
    dbt, sqlmesh = _output(profile_text(settings)), _output(profile_text(settings, tmp_path / "scratch.duckdb", True))
    assert dbt["path"] == str(settings.paths.duckdb_file) and sqlmesh["path"] == str(tmp_path / "scratch.duckdb")
    assert dbt["settings"]["TimeZone"] == sqlmesh["settings"]["TimeZone"] == settings.city.timezone
    assert dbt["config_options"]["extension_directory"] == sqlmesh["settings"]["extension_directory"]
    # SQLMesh would install listed extensions before applying the directory setting, i.e. download them.
    assert "extensions" in dbt and "extensions" not in sqlmesh


def test_the_fingerprint_follows_the_written_profile(tmp_path):
    first = profiles_dir(load_settings("local", tmp_path / "a"))
    second = profiles_dir(load_settings("local", tmp_path / "b"))
    assert project_fingerprint(first) != project_fingerprint(second)  # another home: another database path
    before = project_fingerprint(first)
    (first / PROFILE_FILE).write_text((first / PROFILE_FILE).read_text() + "# edited\n")
    assert project_fingerprint(first) != before


def test_each_dagster_invocation_gets_a_folder_of_the_home_with_the_parse_and_old_ones_go(tmp_path):
    settings = load_settings("local", tmp_path / "home")
    settings.paths.dbt_target.mkdir(parents=True)
    (settings.paths.dbt_target / PARTIAL_PARSE_FILE).write_bytes(b"parsed")
    folders = [invocation_target(settings, "daily_models") for _ in range(KEPT_INVOCATIONS + 3)]
    assert len(set(folders)) == len(folders)
    assert all(f.parent == settings.paths.dbt_target / "runs" for f in folders)
    kept = sorted((settings.paths.dbt_target / "runs").iterdir())
    assert kept == folders[-KEPT_INVOCATIONS:]  # the newest, in the order they were made
    assert (folders[-1] / PARTIAL_PARSE_FILE).read_bytes() == b"parsed"


def test_the_days_are_in_the_environment_only_inside_the_block(monkeypatch):
    monkeypatch.setenv(DAY_TO_ENV, "kept")
    monkeypatch.delenv(DAY_FROM_ENV, raising=False)
    with partition_days_environment(dt.date(2026, 7, 15), dt.date(2026, 7, 16)):
        assert (os.environ[DAY_FROM_ENV], os.environ[DAY_TO_ENV]) == ("2026-07-15", "2026-07-16")
    assert DAY_FROM_ENV not in os.environ and os.environ[DAY_TO_ENV] == "kept"
