"""The parsed-YAML cache (config/yamlfile.py ParsedYamlCache): a file's parse comes back from the cache equal to a
fresh parse, under whatever path holds the text; an edit, an error, a broken cache file or a value JSON cannot give
back are parsed afresh; the cache can be turned off."""
import math

import pytest

import safecity.config.yamlfile as yamlfile
from safecity.config.yamlfile import ParsedYamlCache, YamlFileError, load_yaml

TEXT = """# 策略 policy
id: command.demo
name_zh: "示例"
window: 15m
thresholds: [8, 9.5, true, null]
when:
  - field: congestion_index
    at_least: 8
    since: 2025-03-01
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    kept = ParsedYamlCache(tmp_path / "cache")
    monkeypatch.setattr(yamlfile, "_parsed_cache", kept)
    return kept


def fresh(path):
    """The parse without any cache."""
    saved, yamlfile._parsed_cache = yamlfile._parsed_cache, ParsedYamlCache(None)
    try:
        return load_yaml(path)
    finally:
        yamlfile._parsed_cache = saved


def test_a_cached_parse_equals_a_fresh_one_under_the_path_that_holds_the_text(cache, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(TEXT, encoding="utf-8")
    second.write_text(TEXT, encoding="utf-8")
    parsed = load_yaml(first)
    assert len(list(cache.folder.glob("*.json"))) == 1
    again = load_yaml(second)
    expected = fresh(second)
    assert again.path == second
    assert (again.data, again.lines, again.starts) == (expected.data, expected.lines, expected.starts)
    assert (parsed.data, parsed.lines, parsed.starts) == (expected.data, expected.lines, expected.starts)
    assert again.data["when"][0]["since"] == "2025-03-01" and again.starts["/name_zh"] == (3, 11)


def test_an_edited_file_is_parsed_afresh(cache, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(TEXT, encoding="utf-8")
    load_yaml(path)
    path.write_text(TEXT.replace("15m", "30m"), encoding="utf-8")
    assert load_yaml(path).data["window"] == "30m"
    assert len(list(cache.folder.glob("*.json"))) == 2


def test_errors_are_never_cached_and_name_the_file_each_time(cache, tmp_path):
    for name in ("one.yaml", "two.yaml"):
        path = tmp_path / name
        path.write_text("a: 1\na: 2\n", encoding="utf-8")
        with pytest.raises(YamlFileError) as caught:
            load_yaml(path)
        assert caught.value.problems[0].file == str(path)
    assert not cache.folder.exists() or not list(cache.folder.glob("*.json"))


def test_a_broken_cache_file_costs_only_the_parse(cache, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(TEXT, encoding="utf-8")
    load_yaml(path)
    [kept] = cache.folder.glob("*.json")
    kept.write_text('{"data": ', encoding="utf-8")
    assert load_yaml(path).data == fresh(path).data
    kept.write_text('{"data": {}, "lines": {}}', encoding="utf-8")  # valid JSON, not a parse
    assert load_yaml(path).data == fresh(path).data


def test_values_json_cannot_give_back_are_not_cached(cache, tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text("limit: .nan\n", encoding="utf-8")
    assert math.isnan(load_yaml(path).data["limit"])
    assert not cache.folder.exists() or not list(cache.folder.glob("*.json"))


def test_off_and_an_unwritable_folder_read_every_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFECITY_YAML_CACHE", "off")
    assert ParsedYamlCache.from_environment().folder is None
    monkeypatch.setenv("SAFECITY_YAML_CACHE", str(tmp_path / "mine"))
    assert ParsedYamlCache.from_environment().folder == tmp_path / "mine"
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setattr(yamlfile, "_parsed_cache", ParsedYamlCache(blocked / "yaml"))
    path = tmp_path / "p.yaml"
    path.write_text(TEXT, encoding="utf-8")
    assert load_yaml(path).data == fresh(path).data
