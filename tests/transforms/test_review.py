"""`safecity transforms review` on the simulated day: SQLMesh (its own venv, a subprocess) categorises a breaking
and a non-breaking change of a copy of the project and diffs the tables against the project's build,
while the production warehouse stays byte for byte the same."""
import hashlib
import shutil

import pytest

from safecity.transforms import PROJECT_DIR
from safecity.transforms.review import REPO_DIR, changed_models, model_grains, review

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_changed_models_come_from_git_status_lines():
    status = (" M transforms/models/marts/mart_case_stats.sql\n"
              "?? transforms/models/marts/mart_new.sql\n"
              "?? transforms/models/marts/mart_new.yml\n"
              " D transforms/models/staging/stg_old.yml\n"
              " M transforms/models/sources.yml\n"
              " M transforms/models/staging/_camera_health__sources.yml\n"
              "R  transforms/models/marts/a.sql -> transforms/models/marts/fct_b.sql\n")
    assert changed_models(status) == {"mart_case_stats": "modified", "mart_new": "added", "stg_old": "deleted",
                                      "fct_b": "modified"}


def test_grains_are_read_from_each_models_tests():
    grains = model_grains(PROJECT_DIR, {"mart_case_stats", "fct_alarm_calls", "stg_gb28181__device_status"})
    assert grains == {"mart_case_stats": ["level", "unit_code", "filed_date", "case_type", "category"],
                      "fct_alarm_calls": ["call_id"], "stg_gb28181__device_status": []}


@pytest.mark.skipif(not (REPO_DIR / ".venv-sqlmesh" / "bin" / "python").exists(), reason="make install builds it")
def test_review_tells_breaking_from_non_breaking_and_diffs_rows_without_touching_production(built, q, tmp_path):
    settings = built["settings"]
    project = tmp_path / "transforms"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "__pycache__"))
    volumes = project / "models" / "marts" / "mart_alarm_call_volumes.sql"
    volumes.write_text(volumes.read_text(encoding="utf-8").replace(
        "group by all", "where c.category <> '050000'\ngroup by all"), encoding="utf-8")
    cases = project / "models" / "marts" / "mart_case_stats.sql"
    cases.write_text(cases.read_text(encoding="utf-8").replace(
        "    count(*)::bigint as cases_filed,", "    count(*)::bigint as cases_filed,\n"
        "    count(distinct case_id)::bigint as distinct_cases,"), encoding="utf-8")
    warehouse = settings.paths.duckdb_file
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()

    report = review(settings, tmp_path / "work", changed={"mart_alarm_call_volumes": "modified",
                                                          "mart_case_stats": "modified"},
                    project_dir=project, base_dir=PROJECT_DIR)

    by_model = {m["model"]: m for m in report.models}
    help_calls = q("SELECT count(*) FROM marts.mart_alarm_call_volumes WHERE category = '050000'")[0][0]
    all_volumes = q("SELECT count(*) FROM marts.mart_alarm_call_volumes")[0][0]
    assert help_calls > 0
    assert by_model["mart_alarm_call_volumes"]["category"] == "breaking"
    assert by_model["mart_alarm_call_volumes"]["rows"] == {
        "prod": all_volumes, "review": all_volumes - help_calls, "matched": all_volumes - help_calls,
        "identical": all_volumes - help_calls, "changed": 0, "only_prod": help_calls, "only_review": 0}
    case_rows = q("SELECT count(*) FROM marts.mart_case_stats")[0][0]
    assert by_model["mart_case_stats"]["category"] == "non_breaking"
    assert by_model["mart_case_stats"]["schema"] == {"added": ["distinct_cases"], "removed": [], "modified": []}
    assert by_model["mart_case_stats"]["rows"]["identical"] == case_rows
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert q("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'sqlmesh%'") == [(0,)]
