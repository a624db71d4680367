"""The orchestration benchmark runs end to end on the small simulated day (one run of each path on the same seeded
landing) and its two paths agree: the Dagster job and the same steps called directly leave the same rows in every
bronze, silver and quarantine table, the same marts and the same outbox actions. No timing is asserted."""
import json

import pytest

import benchmarks.orchestration as bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    root = tmp_path_factory.mktemp("orchestration")
    return bench.main(["--repeat", "1", "--work", str(root / "work"), "--out", str(root / "out")]), root


def test_both_paths_run_once_and_report_time_memory_and_steps(summary):
    result, root = summary
    overhead = result["overhead"]
    assert "city" not in result  # opt-in
    for method in bench.METHODS:
        measured = overhead[method]
        assert measured["median_seconds"] > 0 and measured["peak_mb"] > 0
        assert len(overhead["runs"][method]) == 1 and overhead["runs"][method][0]["success"]
        # Where the time goes: the same step names on both sides.
        assert {"reference_tables", "ingest_vehicle_pass", "silver__snapshot_diagnosis", "camera_state",
                "analysis_models", "ops__outbox"} <= set(measured["steps"])
    # Memory per step: the Dagster run's longer steps were sampled, never above the run's peak.
    peaks = overhead["runs"]["dagster"][0]["step_peak_mb"]
    assert {"ingest_vehicle_pass", "analysis_models"} <= set(peaks)
    assert all(0 < mb <= overhead["dagster"]["peak_mb"] for mb in peaks.values())
    assert overhead["ratio_dagster_vs_direct"] == pytest.approx(
        overhead["dagster"]["median_seconds"] / overhead["direct"]["median_seconds"])
    assert json.loads((root / "out" / "orchestration.json").read_text(encoding="utf-8"))["overhead"]["counts"] \
        == overhead["counts"]


def test_dagster_and_direct_paths_leave_the_same_silver_rows(summary):
    result, _ = summary
    runs = result["overhead"]["runs"]
    counts = result["overhead"]["counts"]
    silver = counts["layers"]["silver"]
    # The simulated day reached silver: passes, cameras, their state, and the rules saw it.
    assert silver["vehicle_pass"] > 20_000 and silver["camera"] > 200 and silver["camera_state"] > 200
    assert counts["marts"] and counts["actions_by_policy"]
    # check_agreement already failed the benchmark on any difference; the runs' own counts say the same.
    dagster, direct = ({k: runs[m][0][k] for k in ("layers", "marts", "actions_by_policy")} for m in bench.METHODS)
    assert dagster["layers"]["silver"] == direct["layers"]["silver"] == silver
    assert dagster == direct


def test_a_steps_peak_is_the_largest_sample_inside_its_span():
    samples = [(10.0, 100.0), (10.2, 900.0), (10.4, 300.0), (10.6, 250.0), (10.8, 700.0)]
    spans = {"ingest": (10.0, 10.3), "gold": (10.35, 10.65), "quick": (10.61, 10.7)}
    assert bench.step_peaks(samples, spans) == {"ingest": 900.0, "gold": 300.0}


def test_disagreeing_paths_fail_loudly():
    same = {"success": True, "failed_steps": [], "layers": {"silver": {"camera": 5}}, "marts": {},
            "actions_by_policy": {}}
    other = {**same, "layers": {"silver": {"camera": 4}}}
    with pytest.raises(AssertionError, match="layers differ"):
        bench.check_agreement({"dagster": [same], "direct": [other]})
    with pytest.raises(AssertionError, match="failed"):
        bench.check_agreement({"dagster": [{**same, "success": False, "failed_steps": ["camera_state"]}],
                               "direct": [same]})


def test_a_share_of_the_day_is_the_first_hours_that_hold_that_share_of_the_passes(tmp_path):
    day = tmp_path / "day"
    for hour, size in ((0, 100), (7, 100), (8, 200), (17, 400)):
        (day / "passes/20260715").mkdir(parents=True, exist_ok=True)
        (day / f"passes/20260715/passes_{hour:02d}_001.json").write_bytes(b" " * size)
    assert bench.hours_for_share(day, 0.25) == range(0, 8)   # 200 of 800 bytes by 07:59
    assert bench.hours_for_share(day, 0.26) == range(0, 9)
    assert bench.hours_for_share(day, 0.5) == range(0, 9)
    assert bench.hours_for_share(day, 0.51) == range(0, 18)
    assert bench.hours_for_share(day, 1.0) is None


def test_delivering_the_first_six_hours_keeps_only_their_records(tmp_path):
    day = tmp_path / "day"
    for name, text in {"heartbeats/status_20260715.jsonl": '{"Time":"2026-07-15T05:59:00"}\n'
                                                           '{"Time":"2026-07-15T06:00:00"}\n',
                       "calls/calls_20260715.csv": "jjdbh,bjsj\nJ1,2026-07-15 00:30:43\nJ2,2026-07-15 13:00:00\n",
                       "passes/20260715/passes_05_001.json": "[]", "passes/20260715/passes_06_001.json": "[]",
                       "catalog/catalog_20260715_130302.csv": "a\n", "support/duty_roster_20260715.csv":
                           "d,s\n2026-07-15,2026-07-15T20:00:00+08:00\n"}.items():
        (day / name).parent.mkdir(parents=True, exist_ok=True)
        (day / name).write_text(text, encoding="utf-8")
    bench.deliver(day, tmp_path / "quarter", range(0, 6))
    quarter = tmp_path / "quarter"
    assert (quarter / "heartbeats/status_20260715.jsonl").read_text().count("\n") == 1
    assert (quarter / "calls/calls_20260715.csv").read_text().splitlines() == ["jjdbh,bjsj", "J1,2026-07-15 00:30:43"]
    assert sorted(p.name for p in (quarter / "passes/20260715").iterdir()) == ["passes_05_001.json"]
    assert (quarter / "cameras/catalog_20260715_130302.csv").exists()  # moved where its mapping reads, as seeded
    assert (quarter / "support/duty_roster_20260715.csv").read_text().count("\n") == 2  # per day: whole
