"""Runs inside .venv-sqlmesh (SQLMesh cannot be imported beside dbt-core 1.11 in the main venv); started by
safecity.transforms.review as a subprocess. Imports nothing of safecity.

    python sqlmesh_review.py REQUEST.json

The request names two prepared copies of the dbt project (`base`: the committed project, `change`: the working
tree), both pointed by their config.py at the same scratch DuckDB file, the models to report on and their grains.
`base` is planned into SQLMesh's `prod` environment, `change` into `review`; the answer (JSON on stdout) gives,
for each model, the change category SQLMesh assigned (breaking / non-breaking / …) and a table diff of
review against prod: schema changes and row counts matched, changed, only in one side.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _category(snapshot) -> str | None:
    category = snapshot.change_category
    return category.name.lower() if category is not None else None


def main(request_path: str) -> int:
    from sqlmesh import Context

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    base = Context(paths=request["base"])
    base.plan("prod", no_prompts=True, auto_apply=True, skip_tests=True)
    change = Context(paths=request["change"])
    plan = change.plan("review", no_prompts=True, auto_apply=True, skip_tests=True)
    by_name = {s.name: s for s in plan.snapshots.values()}
    directly = {plan.snapshots[sid].name for sid in plan.directly_modified}
    indirectly = {plan.snapshots[sid].name: sorted(plan.snapshots[d].name for d in deps)
                  for sid, deps in plan.indirectly_modified.items()}
    report = {"directly_modified": [], "models": []}
    for name in sorted(directly):
        report["directly_modified"].append({"model": name, "category": _category(by_name[name]),
                                            "indirectly_modified": indirectly.get(name, [])})
    for model, grain in sorted(request["models"].items()):
        entry = {"model": model, "grain": grain}
        snapshot = next((s for n, s in by_name.items() if n.split(".")[-1].strip('"') == model), None)
        entry["sqlmesh_name"] = snapshot.name if snapshot else None
        entry["category"] = _category(snapshot) if snapshot and snapshot.name in directly else (
            "indirect" if snapshot and any(snapshot.name in v for v in indirectly.values()) else "unchanged")
        if snapshot is None:
            entry["error"] = "not in the project (removed?)"
            report["models"].append(entry)
            continue
        try:
            diffs = change.table_diff("prod", "review", select_models={snapshot.name}, on=grain or None,
                                      show=False, skip_grain_check=True)
        except Exception as exc:  # a new model has no prod table: say so instead of failing the review
            entry["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            report["models"].append(entry)
            continue
        for diff in diffs:
            schema = diff.schema_diff()
            entry["schema"] = {"added": [c for c, _ in schema.added], "removed": [c for c, _ in schema.removed],
                               "modified": sorted(schema.modified)}
            if grain:
                rows = diff.row_diff()
                entry["rows"] = {"prod": rows.source_count, "review": rows.target_count,
                                 "matched": rows.join_count, "identical": rows.full_match_count,
                                 "changed": rows.partial_match_count, "only_prod": rows.s_only_count,
                                 "only_review": rows.t_only_count}
        report["models"].append(entry)
    print("SAFECITY-REVIEW " + json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
