"""JSON Schemas of the policy kinds (策略文件的 JSON Schema), for editors: VS Code's YAML extension completes keys
and marks errors while staff type, from `# yaml-language-server: $schema=…` at the top of a file.

They are derived from the same pydantic models the loader validates with, so the two cannot drift apart. Where a
model accepts a shorter spelling through a `before` validator (a bare value for `eq`, a one-line window, one
condition instead of a list), pydantic's schema knows only the long form; those spellings are added here. What only
the catalogues can tell (event, field and action names) is left to `safecity rules check`.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from safecity.rules.policy import KIND_FIELDS, KIND_KEYS, KINDS, Policy

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCALAR = {"type": ["string", "number", "boolean"]}
_THROTTLE_LINE = r"^\s*once\s+within\s+[1-9][0-9]*(s|m|h|d)(\s+by\s+[a-z][a-z0-9_]*)?\s*$"
_WINDOW_LINE = r"^\s*count\s*>=\s*[0-9]+\s+within\s+[1-9][0-9]*(s|m|h|d)(\s+by\s+[a-z][a-z0-9_]*)?\s*$"


def _short_forms(defs: dict[str, Any]) -> None:
    for name in ("Condition", "Pattern"):
        defs[name]["properties"]["where"]["additionalProperties"] = {
            "anyOf": [{"$ref": "#/$defs/Comparison"}, _SCALAR]}
    window = defs["Condition"]["properties"]["window"]
    window["anyOf"] = [{"type": "string", "pattern": _WINDOW_LINE,
                        "description": "count >= 3 within 30m by junction_id"}] + window["anyOf"]
    when = defs["Level"]["properties"]["when"]
    defs["Level"]["properties"]["when"] = {"anyOf": [{"$ref": "#/$defs/Condition"}, when],
                                           "description": "一个或多个触发条件（任一满足即进入该级别） / one condition or "
                                                          "a list (any of them enters the level)"}


def policy_schema(kind: str) -> dict[str, Any]:
    """The schema of a policy file of one kind: the keys of the other kinds removed, this kind's keys required."""
    schema = copy.deepcopy(Policy.model_json_schema(by_alias=True))
    _short_forms(schema["$defs"])
    properties = schema["properties"]
    if kind in ("statechart", "escalation"):
        properties.pop("throttle")
    else:
        properties["throttle"]["anyOf"].insert(0, {"type": "string", "pattern": _THROTTLE_LINE,
                                                   "description": "once within 2h by camera_id"})
    for key in KIND_KEYS:
        if key not in KIND_FIELDS[kind]:
            properties.pop(key, None)
    if kind != "escalation":
        properties.pop("only_up", None)
    properties["kind"] = {"const": kind, "description": f"策略类型 / policy kind: {kind}"}
    required = list(schema.get("required", []))
    required += [key for key in KIND_FIELDS[kind] if key not in required]
    if kind != "rule":
        required.append("kind")  # a file without `kind` is a rule
    schema["required"] = required
    schema["title"] = f"SafeCity policy ({kind})"
    schema["$schema"] = SCHEMA_DIALECT
    return schema


def schema_file_name(kind: str) -> str:
    return f"policy-{kind.replace('_', '-')}.schema.json"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = folder / schema_file_name(kind)
        path.write_text(json.dumps(policy_schema(kind), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
