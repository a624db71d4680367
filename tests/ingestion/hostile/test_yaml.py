"""Hostile mappings and policy files are refused with the exact code, at the place they name, never a traceback;
no alias bomb or deep nesting costs more than the bounds of config/yamlfile.py."""
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.ingestion.mapping import load_mapping
from safecity.rules.loader import load_policy
from tests.ingestion.hostile.yaml_cases import mapping_cases, policy_cases


@pytest.mark.parametrize("text, code, pointer", list(mapping_cases()))
def test_hostile_mapping(tmp_path, catalogue, text, code, pointer):
    path = tmp_path / "hostile_mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_mapping(path, catalogue)
    found = [(p.code, p.pointer) for p in info.value.problems]
    assert all(p.file == str(path) for p in info.value.problems)
    if pointer is None:
        assert [c for c, _ in found] == [code], found
    else:
        assert (code, pointer) in found, found
        assert all(p.line for p in info.value.problems if p.pointer == pointer)


@pytest.mark.parametrize("text, code", list(policy_cases()))
def test_hostile_policy(tmp_path, catalogue, text, code):
    path = tmp_path / "hostile_policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_policy(path, catalogue=catalogue)
    assert [p.code for p in info.value.problems] == [code], str(info.value)
