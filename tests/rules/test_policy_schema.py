"""The JSON Schemas exported for editors accept every shipped policy, reject what the loader rejects for shape,
and are the ones in docs/schemas (regenerated, not edited by hand)."""
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from safecity.config.yamlfile import load_yaml
from safecity.orchestration.cli import app
from safecity.rules.loader import POLICIES_DIR
from safecity.rules.policy import KINDS
from safecity.rules.schema import policy_schema, schema_file_name

DOCS = Path(__file__).parents[2] / "docs" / "schemas"
SHIPPED = sorted(POLICIES_DIR.rglob("*.yaml"))


def _validator(kind: str) -> Draft202012Validator:
    schema = policy_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policies_fit_their_kinds_schema(path):
    data = load_yaml(path).data
    errors = [e.message for e in _validator(data.get("kind", "rule")).iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("change, expected", [
    (("title: 突发事件", "titel: 突发事件"), "'titel' was unexpected"),
    (("only_up: true", "only_up: [1]"), "is not of type 'boolean'"),
    (("audience: city_leader", "audience: mayor"), "'mayor' is not one of"),
    (("kind: escalation", "kind: escalation\ninitial: monitoring"), "'initial' was unexpected"),
])
def test_schema_rejects_wrong_escalation(tmp_path, change, expected):
    text = (POLICIES_DIR / "emergency" / "incident_escalation.yaml").read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "wrong.yaml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    messages = _messages(_validator("escalation").iter_errors(load_yaml(path).data))
    assert any(expected in m for m in messages), messages


def _messages(errors):
    """Every message, including those inside anyOf branches (an optional key's schema is `anyOf [..., null]`)."""
    return [m for e in errors for m in [e.message, *_messages(e.context or [])]]


def test_short_forms_are_accepted_and_checked():
    validator = _validator("rule")
    base = {"id": "a.b", "version": 1, "title": "测试", "owner": "x", "priority": 1, "partition_by": "junction_id",
            "actions": [{"action": "raise_alert"}]}
    good = {**base, "when": {"event": "e", "where": {"grade": "3"}, "window": "count >= 3 within 30m by junction_id",
                             "any": ["congestion_index >= 8", {"not": "grade == 1"}]}}
    assert list(validator.iter_errors(good)) == []
    bad = {**base, "when": {"event": "e", "window": "three in 30 minutes"}}
    assert list(validator.iter_errors(bad)) != []


def test_docs_schemas_are_current(tmp_path):
    result = CliRunner().invoke(app, ["rules", "schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for kind in KINDS:
        name = schema_file_name(kind)
        assert json.loads((tmp_path / name).read_text(encoding="utf-8")) == policy_schema(kind)
        assert (DOCS / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(encoding="utf-8")
