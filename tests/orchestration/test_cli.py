import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(*args, env=None, timeout=120):
    return subprocess.run([str(BIN / "safecity"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_help_lists_the_subcommands():
    completed = run("--help")
    assert completed.returncode == 0
    for command in ("run", "ui", "ingest", "rules"):
        assert f" {command} " in completed.stdout


def test_broken_profile_stops_with_file_and_key(tmp_path):
    completed = run("run", env={"SAFECITY_ENV": "staging", "SAFECITY_HOME": str(tmp_path)})
    assert completed.returncode == 2
    assert "environments/staging.yaml" in completed.stderr and "E_PROFILE" in completed.stderr
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_ingest_command_reports_per_file_and_is_idempotent(tmp_path):
    from tests.conftest import SAMPLE_EXPORT
    env = {"SAFECITY_HOME": str(tmp_path)}
    first = run("ingest", "video_platform_catalog_csv", str(SAMPLE_EXPORT), env=env)
    assert first.returncode == 0, first.stderr
    assert "ingested: 40 received, 30 silver, 10 quarantined" in first.stdout
    again = run("ingest", "video_platform_catalog_csv", str(SAMPLE_EXPORT), env=env)
    assert "already ingested" in again.stdout


def test_rules_check_and_test_on_the_shipped_policies():
    from safecity.rules.loader import POLICIES_DIR
    files = list(POLICIES_DIR.rglob("*.yaml"))
    assert f"{len(files)} policies OK" in run("rules", "check").stdout
    tested = run("rules", "test")
    assert tested.returncode == 0 and tested.stdout.count("PASS camera.key_point_offline") == 3
    assert "FAIL" not in tested.stdout and tested.stdout.count("PASS ") >= 3 * len(files)


def test_rules_check_reports_a_broken_policy_as_json(tmp_path):
    import json
    (tmp_path / "bad.yaml").write_text(
        "id: camera.bad\nversion: 1\ntitle: 坏策略\nowner: 科技信息化处\npriority: 5\npartition_by: device_id\n"
        "when:\n  event: camera_registred\nactions: []\n", encoding="utf-8")
    completed = run("rules", "check", str(tmp_path), "--json")
    assert completed.returncode == 1
    problems = json.loads(completed.stdout)
    assert any(p["code"] == "E_UNKNOWN_EVENT" and p["line"] == 8 and "camera_registered" in (p["hint"] or "")
               and p["message_zh"].startswith("事件目录中没有事件") and p["message_en"] == "unknown event 'camera_registred'"
               for p in problems)


def test_code_location_loads_for_dagster(tmp_path):
    completed = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "safecity.orchestration.location"],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "SAFECITY_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Validation successful" in completed.stdout + completed.stderr


def test_sqlmesh_review_environment_is_separate_and_imports():
    """The setup command builds SQLMesh's own environment; the runtime one must not hold sqlmesh."""
    repo = Path(__file__).resolve().parents[2]
    review = repo / ".venv-sqlmesh" / "bin" / "python"
    assert review.exists(), "make install creates .venv-sqlmesh"
    completed = subprocess.run([str(review), "-c", "import sqlmesh, sqlglot; print(sqlmesh.__version__)"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0 and completed.stdout.startswith("0.236"), completed.stderr[-2000:]
    import importlib.util
    assert importlib.util.find_spec("sqlmesh") is None


def test_standards_check_summarises_and_writes_rejected_rows(tmp_path):
    import json
    import shutil
    from tests.conftest import SAMPLE_EXPORT
    export = tmp_path / "cameras.csv"
    shutil.copy(SAMPLE_EXPORT, export)
    completed = run("standards", "check", str(export), "--entity", "camera", "--mapping",
                    "video_platform_catalog_csv", "--json")
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert (summary["total"], summary["accepted"], summary["rejected"]) == (40, 30, 10)
    assert summary["reasons"] == {"E_CODE": 3, "E_FORMAT": 2, "E_OUT_OF_AREA": 2, "E_COLUMNS": 1,
                                  "E_REQUIRED": 1, "E_DUPLICATE_KEY": 1}
    rejected = (tmp_path / "cameras.csv.rejected.csv").read_bytes()
    assert rejected.startswith(b"\xef\xbb\xbf")
    lines = rejected.decode("utf-8-sig").splitlines()
    assert len(lines) == 11 and lines[0].startswith('"line","reason_codes"')
    assert any('"E_OUT_OF_AREA"' in line and "坐标在北京" in line for line in lines)


def test_standards_check_matches_chinese_headers_without_a_mapping(tmp_path):
    import json
    export = tmp_path / "plain.csv"
    export.write_text("设备编码,设备名称,经度,纬度,设备状态\n13030200001320000001,人民广场,119.6,39.94,ON\n"
                      "13030200001320000002,,119.6,39.94,ON\n", encoding="utf-8")
    summary = json.loads(run("standards", "check", str(export), "--entity", "camera", "--json").stdout)
    assert (summary["total"], summary["accepted"], summary["reasons"]) == (2, 1, {"E_REQUIRED": 1})


def test_standards_check_refuses_an_unreadable_file_with_the_reason(tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02" * 100)
    completed = run("standards", "check", str(garbage), "--entity", "camera")
    assert completed.returncode == 2 and "E_BINARY" in completed.stderr and "garbage.csv" in completed.stderr
    unknown = run("standards", "check", str(garbage), "--entity", "camra")
    assert unknown.returncode == 2 and "did you mean 'camera'" in unknown.stderr
