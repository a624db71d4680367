"""The streaming benchmark's quick mode, end to end on its own tansu broker: every part runs, and each part's own
invariants hold (every event read once per hop, actions equal to a non-streamed evaluation, the lag drained);
its figures are re-derived here from the rows it left in its work folder."""
import json

from benchmarks.rules_stream import city_day, main


def test_quick_mode_accounts_for_every_event(tmp_path):
    summary = main(["--quick", "--compare", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "rules_stream.json").read_text())["latency"]["now"]["p99_ms"] == \
        summary["latency"]["now"]["p99_ms"]

    for label in ("before", "now"):  # the settings before issue 18's latency work, and today's
        [run] = summary["latency"][label]["runs"]
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


def test_a_city_day_has_its_evening_peak():
    events = city_day(24_000)
    per_hour = [0] * 24
    for event in events:
        per_hour[int(next(event[f] for f in ("ts", "received_at", "since", "shift_start") if f in event)[11:13])] += 1
    assert sum(per_hour) == len(events)
    assert max(range(24), key=per_hour.__getitem__) in (17, 18, 19)
    assert per_hour[18] > 5 * per_hour[3]
