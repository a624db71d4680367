"""The streaming benchmark's quick mode, end to end on its own tansu broker: every part runs, and each part's own
invariants hold (every event read once per hop, actions equal to a non-streamed evaluation, the lag drained);
its figures are re-derived here from the rows it left in its work folder."""
import json
import statistics
import uuid

from benchmarks.rules import workload
from benchmarks.rules_stream import LATENESS, city_day, expected_keys, main, workload_late_s


def test_quick_mode_accounts_for_every_event(tmp_path):
    summary = main(["--quick", "--compare", "--compare-checkpoints", "--work", str(tmp_path / "work"),
                    "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "rules_stream.json").read_text())["latency"]["now"]["p99_ms"] == \
        summary["latency"]["now"]["p99_ms"]

    # The settings before issue 18's latency work, today's, and today's without checkpoints.
    assert set(summary["latency"]) == {"before", "now", "no_checkpoints"}
    assert not list((tmp_path / "work" / "latency-no_checkpoints-0").glob("checkpoints/*"))
    assert list((tmp_path / "work" / "latency-now-0").glob("checkpoints/*"))
    for label in ("before", "now", "no_checkpoints"):
        [run] = summary["latency"][label]["runs"]
        assert run["settings"] == label
        assert run["checks"] == {"raw_read_back": True, "routed": True, "served": True,
                                 "actions_equal_evaluation": True}
        rows = [json.loads(line) for path in (tmp_path / "work" / f"latency-{label}-0").glob("outbox-*.jsonl")
                for line in path.read_text(encoding="utf-8").splitlines()]
        assert run["actions"] == len(rows) > 0
        measured = [r for r in rows if all(i.startswith("m") for i in r["matched_event_ids"])]  # past the warm-up
        assert run["counted"] == len(measured) > 0
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"] < 60_000

    throughput = summary["throughput"]
    for key, runs in throughput["runs"].items():
        for measured_run in runs:
            assert all(measured_run["checks"].values()), (key, measured_run["checks"])
            assert measured_run["messages"] == throughput["keyed_messages"]
    assert throughput["ratios"]["serve_1_vs_decode_1"] == \
        throughput["messages_per_s"]["serve_1"] / throughput["messages_per_s"]["decode_1"]

    lag = summary["lag"]
    assert all(lag["checks"].values()), lag["checks"]
    assert lag["events"] == len(city_day(20_000, (18, 19)))
    times = [s["t"] for s in lag["samples"]]
    assert times == sorted(times) and len(times) >= 2
    assert lag["router_lag_max"] >= lag["router_lag_last"] >= 0
    loads = [s["load"] for s in lag["samples"]]
    assert lag["load_average"] == {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}
    assert lag["workload_late_s"] == 0 and lag["serve_too_late"] == 0  # a day in time order: nothing too late


def test_a_city_day_has_its_evening_peak():
    events = city_day(24_000)
    per_hour = [0] * 24
    for event in events:
        per_hour[int(next(event[f] for f in ("ts", "received_at", "since", "shift_start") if f in event)[11:13])] += 1
    assert sum(per_hour) == len(events)
    assert max(range(24), key=per_hour.__getitem__) in (17, 18, 19)
    assert per_hour[18] > 5 * per_hour[3]


def _again(events: list[dict], tag: str) -> list[dict]:
    """New events like `events` (fresh ids and subjects, their own times), to send after everything else."""
    subjects = ("incident_id", "call_id", "junction_id", "user_id", "work_order_id")
    return [{**e, "id": f"{e['id']}-{tag}", **{k: f"{e[k]}-{tag}" for k in subjects if k in e}}
            for e in events if e["type"] != "camera_down"]  # facts are never late


def _late_workload() -> tuple[list[dict], list[dict], list[dict]]:
    base = workload(3000, seed=3)  # one event every 0.5 s: 1,500 s of event time
    too_late = _again(base[:300], "late")  # <= 150 s: about 1,350 s behind the last event, beyond 900 s
    within = _again(base[1900:2100], "within")  # 950-1,050 s: about 500 s behind, within the lateness
    return base, too_late, within


def test_the_reference_leaves_out_what_serve_finds_too_late():
    base, too_late, within = _late_workload()
    assert workload_late_s(base) == 0 and LATENESS < workload_late_s(base + too_late)
    reference = expected_keys(base)
    # Without the lateness, the late events fire actions of their own: the check would expect what serve drops.
    assert set(expected_keys(base + too_late, lateness=None)) > set(reference)
    assert expected_keys(base + too_late) == reference
    # Events late by less than the allowed lateness are evaluated, and fire.
    assert set(expected_keys(base + within)) > set(reference)


def test_serve_and_the_reference_agree_on_a_workload_with_late_events(kafka_bootstrap, tmp_path):
    """Through the real router and serve (on tansu) with the benchmark's lateness: the actions equal the
    reference's, late events and all, and serve counted as too late exactly the events the reference dropped."""
    from benchmarks.rules_stream import KEYED_PARTITIONS, _create, _with_key, outbox_rows
    from safecity.rules.engine import EVENT_TIME
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import keyed_topics, publish_events, route, serve

    base, too_late, within = _late_workload()
    events = base + within + too_late
    topic = f"safecity.test.late_{uuid.uuid4().hex[:8]}"
    _create(kafka_bootstrap, topic, 1)  # one raw partition: the router keeps the published order
    publish_events(kafka_bootstrap, topic, _with_key(events), "_key")
    policies = load_policies()
    routed = route(kafka_bootstrap, [topic], f"{topic}.router", policies, partitions=[(topic, 0)],
                   keyed_partitions=KEYED_PARTITIONS, max_messages=len(events), idle_seconds=30, poll_ms=20)
    assert routed.messages == len(events)
    rows = []
    assignment = [(t, p) for t in keyed_topics([topic], policies) for p in range(KEYED_PARTITIONS)]
    stats = serve(kafka_bootstrap, [topic], f"{topic}.serve", policies, lambda records, _: rows.extend(records),
                  clock=EVENT_TIME, partitions=assignment, max_messages=routed.published, idle_seconds=30,
                  watch=False, poll_ms=20, lateness=LATENESS)
    assert stats.messages == routed.published
    assert {e.event_id for e in stats.result.late} == {e["id"] for e in too_late}
    assert sorted(r.idempotency_key for r in rows) == expected_keys(events)
