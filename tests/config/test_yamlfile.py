from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from safecity.config.yamlfile import YamlFileError, load_yaml, parse_model


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_1_1_surprises_stay_text(tmp_path):
    doc = load_yaml(write(tmp_path, "a: on\nb: NO\nc: 1:30\nd: 2025-01-01\ne: 0755\n"))
    assert doc.data == {"a": "on", "b": "NO", "c": "1:30", "d": "2025-01-01", "e": 755}


def test_duplicate_key_is_an_error_with_its_line(tmp_path):
    with pytest.raises(YamlFileError) as info:
        load_yaml(write(tmp_path, "id: x\nname: a\nname: b\n"))
    [problem] = info.value.problems
    assert problem.code == "E_YAML" and problem.line == 3 and "name" in problem.message


def test_lines_are_recorded_for_nested_nodes(tmp_path):
    doc = load_yaml(write(tmp_path, "top:\n  items:\n    - a\n    - b: 1\n"))
    assert doc.line_of("/top/items/1/b") == 4
    assert doc.line_of("/top/items/1/missing") == 4
    assert doc.line_of("/top") == 1


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    inner: Inner


def test_parse_model_reports_every_error_with_line_and_hint(tmp_path):
    path = write(tmp_path, "name: x\ninner:\n  threshold: many\n  threshhold: 3\nnmae: y\n")
    with pytest.raises(YamlFileError) as info:
        parse_model(load_yaml(path), Outer)
    found = {(p.code, p.pointer, p.line, p.hint) for p in info.value.problems}
    assert ("E_TYPE", "/inner/threshold", 3, None) in found
    assert ("E_UNKNOWN_KEY", "/inner/threshhold", 4, "did you mean 'threshold'?") in found
    assert ("E_UNKNOWN_KEY", "/nmae", 5, "did you mean 'name'?") in found
    assert str(path) + ":4: E_UNKNOWN_KEY at /inner/threshhold" in str(info.value)


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("名称: 海港区\n".encode("gb18030"))
    with pytest.raises(YamlFileError) as info:
        load_yaml(path)
    assert info.value.problems[0].code == "E_ENCODING" and str(path) in str(info.value)
