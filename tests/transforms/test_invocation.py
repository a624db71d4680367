"""The profile dbt and SQLMesh read, rendered in one place for a home, and the manifest fingerprint keyed on it."""
import yaml

from safecity.config.profiles import load_settings
from safecity.transforms.invocation import PROFILE_FILE, profile_text, profiles_dir, project_fingerprint


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
