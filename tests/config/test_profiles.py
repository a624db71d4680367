import shutil

import pytest

from safecity.config.profiles import (CITIES_DIR, ENVIRONMENTS_DIR, PostgresCatalog, load_city, load_environment,
                                      load_settings)
from safecity.config.yamlfile import YamlFileError

QINHUANGDAO = {"130302": "海港区", "130303": "山海关区", "130304": "北戴河区", "130306": "抚宁区",
               "130321": "青龙满族自治县", "130322": "昌黎县", "130324": "卢龙县"}


def test_qinhuangdao_profile_has_the_seven_divisions():
    city = load_city("qinhuangdao")
    assert {d.code: d.name_zh for d in city.divisions} == QINHUANGDAO
    assert city.gb2260 == "130300" and city.timezone == "Asia/Shanghai"
    assert city.extent.contains(119.6, 39.94) and not city.extent.contains(116.4, 39.9)
    assert city.grid_cell_m > 0


def test_home_defaults_to_var_and_follows_safecity_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SAFECITY_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings("local").paths.home == tmp_path / "var"
    monkeypatch.setenv("SAFECITY_HOME", str(tmp_path / "elsewhere"))
    settings = load_settings("local")
    assert settings.paths.home == tmp_path / "elsewhere"
    assert settings.paths.duckdb_file.parent == tmp_path / "elsewhere"


def test_broken_city_profile_names_file_line_and_key(tmp_path):
    text = (CITIES_DIR / "qinhuangdao.yaml").read_text(encoding="utf-8")
    broken = text.replace("timezone: Asia/Shanghai", "timezone: Asia/Qinhuangdao").replace(
        'code: "130302"', 'code: "110101"')
    (tmp_path / "broken.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_city("broken", tmp_path)
    message = str(info.value)
    assert "broken.yaml:" in message
    pointers = {p.pointer for p in info.value.problems}
    assert "/timezone" in pointers
    timezone_line = next(i for i, l in enumerate(broken.splitlines(), 1) if l.startswith("timezone:"))
    assert any(p.pointer == "/timezone" and p.line == timezone_line for p in info.value.problems)


def test_unknown_key_in_environment_profile_gets_a_hint(tmp_path):
    shutil.copy(ENVIRONMENTS_DIR / "production.yaml", tmp_path / "prod.yaml")
    text = (tmp_path / "prod.yaml").read_text(encoding="utf-8").replace("bucket: safecity", "buckit: safecity")
    (tmp_path / "prod.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_environment("prod", tmp_path)
    assert any(p.pointer == "/storage/buckit" and p.hint == "did you mean 'bucket'?" for p in info.value.problems)


def test_production_secrets_come_from_environment_variables(monkeypatch):
    monkeypatch.delenv("SAFECITY_CATALOG_URL", raising=False)
    settings = load_settings("production", "/tmp/safecity-test-home")
    assert isinstance(settings.environment.catalog, PostgresCatalog)
    with pytest.raises(YamlFileError) as info:
        settings.catalog_uri
    assert "production.yaml" in str(info.value) and "SAFECITY_CATALOG_URL" in str(info.value)
    monkeypatch.setenv("SAFECITY_CATALOG_URL", "postgresql+psycopg2://u:p@127.0.0.1/db")
    assert load_settings("production", "/tmp/safecity-test-home").catalog_uri.startswith("postgresql")


def test_secret_values_cannot_be_written_into_a_profile(tmp_path):
    text = (ENVIRONMENTS_DIR / "production.yaml").read_text(encoding="utf-8").replace(
        "secret_key_env: SAFECITY_S3_SECRET_KEY", "secret_key_env: hunter2-secret")
    (tmp_path / "leaky.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_environment("leaky", tmp_path)
    assert "must name an environment variable" in str(info.value)


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(YamlFileError) as info:
        load_settings("staging")
    assert "staging.yaml" in str(info.value) and "local" in str(info.value)
