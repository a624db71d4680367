"""`safecity quarantine`: what was rejected and why, and re-judging it after a fix, from the command line."""
import json

from tests.conftest import SAMPLE_EXPORT
from tests.orchestration.test_cli import run


def test_summary_groups_rejections_and_reprocess_reports_what_moved(tmp_path):
    env = {"SAFECITY_HOME": str(tmp_path)}
    assert run("ingest", "video_platform_catalog_csv", str(SAMPLE_EXPORT), env=env).returncode == 0
    completed = run("quarantine", "summary", "camera", "--json", env=env)
    assert completed.returncode == 0, completed.stderr
    groups = json.loads(completed.stdout)
    by_reason = {}
    for group in groups:
        by_reason[group["reason"]] = by_reason.get(group["reason"], 0) + group["rows"]
        assert group["entity"] == "camera" and group["source"] == "video_platform_catalog_csv"
        assert group["example_at"].startswith(str(SAMPLE_EXPORT) + ":")
    assert by_reason == {"E_CODE": 3, "E_FORMAT": 2, "E_OUT_OF_AREA": 2, "E_COLUMNS": 1, "E_REQUIRED": 1,
                         "E_DUPLICATE_KEY": 1}

    # Nothing in the mapping changed: the 8 re-judgeable records (not the duplicate, not the unsplittable line)
    # are judged again, none recovers, and every record stays where it was.
    completed = run("quarantine", "reprocess", "video_platform_catalog_csv", "--json", env=env)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["recovered"] == 0 and report["examined"] == 8
    assert sum(report["still_rejected"].values()) == 10
