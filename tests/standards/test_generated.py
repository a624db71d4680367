"""Files derived from the standards are never stale: the committed copies equal what the catalogue gives."""
import re

from safecity.ingestion.mapping import SOURCES_DIR
from safecity.orchestration.generated import REPOSITORY_DOCS, DICTIONARY_MD, dbt_sources_text, ingested_entities
from safecity.standards.dictionary import render_html, render_markdown
from safecity.transforms.sources import SOURCES_FILE


def test_dbt_sources_are_current(catalogue):
    assert SOURCES_FILE.read_text(encoding="utf-8") == dbt_sources_text(catalogue), \
        "run: safecity standards dbt"


def test_committed_dictionary_is_current(catalogue):
    assert (REPOSITORY_DOCS / DICTIONARY_MD).read_text(encoding="utf-8") == render_markdown(catalogue), \
        "run: safecity standards docs"


def test_dbt_sources_carry_sensitivity_and_both_names(catalogue):
    text = dbt_sources_text(catalogue)
    mapped = {line.split(":", 1)[1].strip() for path in SOURCES_DIR.glob("*.yaml")
              for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("entity:")}
    assert ingested_entities() == sorted(mapped)
    assert {"camera", "vehicle_pass", "alarm_call", "device_status"} <= mapped
    assert "description: 设备编码 / Device ID" in text
    assert re.search(r"name: device_id\n\s+description: .*\n\s+data_type: varchar\n\s+meta:\n\s+name_zh: 设备编码\n"
                     r"\s+sensitivity: internal", text)
    assert "name: _batch_id" in text


def test_dictionary_lists_every_element_code_and_format(catalogue):
    markdown, page = render_markdown(catalogue), render_html(catalogue)
    for entity in catalogue.entities.values():
        for element in entity.elements:
            assert f"`{element.id}` | {element.name_zh}" in markdown
            assert f"<code>{element.id}</code></td><td>{element.name_zh}" in page
    for table in catalogue.code_tables.values():
        assert f'<a id="code-{table.id}"></a>' in markdown and f"id='code-{table.id}'" in page
        for code in table.codes:
            assert f"| `{code.code}` | {code.name_zh.replace('|', chr(92) + '|')} |" in markdown
    for fmt in catalogue.formats.values():
        assert f"(`{fmt.id}`)" in markdown


def test_dictionary_marks_low_confidence_and_replaceable_tables(catalogue):
    markdown = render_markdown(catalogue)
    for table in catalogue.code_tables.values():
        section = markdown.split(f'<a id="code-{table.id}"></a>', 1)[1].split("<a id=", 1)[0]
        assert ("城市可替换 replaceable" in section) == table.replaceable
        assert {"H": "高 / high", "M": "中 / medium", "L": "低 / low"}[table.confidence] in section
