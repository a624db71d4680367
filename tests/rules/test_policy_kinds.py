"""Windows, correlations with facts, statecharts and decision tables: loading errors and engine behaviour."""
import datetime as dt

import openpyxl
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.rules.compiler import compile_policy
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy

CST = dt.timezone(dt.timedelta(hours=8))


def reading(event_id, junction, index, minute):
    ts = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=minute)
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": index,
            "ts": ts.isoformat()}


def _problems(path):
    with pytest.raises(YamlFileError) as caught:
        load_policy(path)
    return [(p.file.rsplit("/", 1)[-1], p.line, p.code, p.pointer) for p in caught.value.problems]


@pytest.fixture(scope="module")
def congestion():
    return load_policy(POLICIES_DIR / "command" / "junction_congestion.yaml")


def brute_force_windows(readings, count, seconds, threshold):
    """Independent model of the window: per junction, greedily take the earliest `count` qualifying readings
    that fit in `seconds` from the first; a match consumes its readings."""
    fired = []
    by_junction = {}
    for r in readings:
        if r["congestion_index"] >= threshold:
            by_junction.setdefault(r["junction_id"], []).append(r)
    for junction, items in by_junction.items():
        pending = []
        for r in items:
            t = dt.datetime.fromisoformat(r["ts"]).timestamp()
            pending = [(pt, pid) for pt, pid in pending if t - pt <= seconds]
            pending.append((t, r["id"]))
            if len(pending) == count:
                fired.append(sorted(pid for _, pid in pending))
                pending = []
    return sorted(fired)


def test_window_counts_on_event_time_and_matches_an_independent_model(congestion):
    import random
    rng = random.Random(7)
    readings, minute = [], 0
    for i in range(300):
        minute += rng.choice([1, 2, 4, 7, 11])
        readings.append(reading(f"r{i}", rng.choice(["J1", "J2", "J3"]), rng.choice([5.0, 8.0, 9.5]), minute))
    result = evaluate([congestion], readings, clock=EVENT_TIME)
    fired = sorted(r.matched_event_ids for r in result.outbox if r.action == "dispatch_order")
    assert fired == brute_force_windows(readings, 3, 900, 8.0) and fired
    assert result.errors == [] and result.rejected == []
    # The action's time is the latest matched event's time, not the wall clock.
    record = result.outbox[0]
    times = {r["id"]: dt.datetime.fromisoformat(r["ts"]) for r in readings}
    assert record.fired_at == max(times[i] for i in record.matched_event_ids)


def test_window_event_without_time_is_rejected(congestion):
    event = reading("r1", "J1", 9.0, 0)
    del event["ts"]
    result = evaluate([congestion], [event], clock=EVENT_TIME)
    assert [(r.event_id, r.policy_id) for r in result.rejected] == [("r1", "command.junction_congestion")]


def test_idle_window_partitions_are_evicted_and_stale_events_compacted(congestion):
    from safecity.rules.engine import PolicyEngine
    with PolicyEngine([congestion], clock=EVENT_TIME, sweep_every=10_000) as engine:
        for i in range(50):
            engine.post(reading(f"a{i}", f"J{i}", 9.0, 0))  # 50 junctions, one reading each
        engine.post(reading("b1", "J0", 9.0, 25))  # J0's first reading is now older than the window
        engine.post(reading("b2", "J0", 9.0, 28))
        assert len(engine.pending_events(congestion.id, "J0")) == 3
        engine.post(reading("late", "J999", 9.0, 36))  # event time moves on: J1..J49 idle > 2 x 15 min
        engine.sweep()
        assert engine.live_partitions()[congestion.id] == 2  # J0 (seen at 28 min) and J999
        assert sorted(e["id"] for e in engine.pending_events(congestion.id, "J0")) == ["b1", "b2"]
        engine.post(reading("b3", "J0", 9.0, 37))
        result = engine.result()
    assert result.evicted[congestion.id] == 49
    assert [r.matched_event_ids for r in result.outbox if r.action == "dispatch_order"] == [["b1", "b2", "b3"]]


def test_correlation_fires_only_while_the_fact_holds():
    policy = load_policy(POLICIES_DIR / "command" / "blind_spot_incident.yaml")
    down = {"type": "camera_down", "id": "down-C7", "camera_id": "13030200001320000007", "grid_id": "G1",
            "since": "2025-03-01T07:00:00+08:00"}

    def incident(i, grid="G1", category="010000"):
        return {"type": "incident_reported", "id": f"i{i}", "incident_id": f"I{i}", "grid_id": grid,
                "category": category, "ts": "2025-03-01T08:00:00+08:00"}

    events = [incident(1), down, incident(2), incident(3, grid="G2"), incident(4, category="050000"),
              {**down, "op": "retract"}, incident(5), down, incident(6)]
    result = evaluate([policy], events, clock=EVENT_TIME)
    orders = [(r.params["incident_id"], r.matched_event_ids) for r in result.outbox if r.action == "dispatch_order"]
    assert orders == [("I2", ["down-C7", "i2"]), ("I6", ["down-C7", "i6"])]
    assert result.unhandled[("command.blind_spot_incident", "incident_reported")] == 4  # i1, i3, i4, i5


def test_statechart_errors_name_missing_and_unreachable_states(write_policy):
    path = write_policy("""
        id: emergency.bad_chart
        version: 1
        kind: statechart
        title: 错误状态图
        owner: 应急指挥处
        priority: 3
        partition_by: incident_id
        initial: monitorin
        states:
          monitoring:
            transitions:
              - { to: level_4, when: { event: incident_assessed, where: { casualtys: { gte: 1 } } } }
          level_IV:
            transitions:
              - { to: closed, when: { event: incident_closed } }
          orphan: {}
          closed: {}
        actions: [ { action: raise_alert, params: { level: info, channel: ops, message: x } } ]
    """)
    got = _problems(path)
    assert got == [
        ("policy.yaml", 8, "E_CHART_MISSING_STATE", "/initial"),
        ("policy.yaml", 12, "E_CHART_MISSING_STATE", "/states/monitoring/transitions/0/to"),
        ("policy.yaml", 12, "E_UNKNOWN_FIELD", "/states/monitoring/transitions/0/when/where/casualtys"),
        ("policy.yaml", 18, "E_KIND", "/actions"),
    ]
    with pytest.raises(YamlFileError) as caught:
        load_policy(path)
    hints = {p.pointer: p.hint for p in caught.value.problems}
    assert hints["/initial"] == "did you mean 'monitoring'?"
    assert hints["/states/monitoring/transitions/0/to"] == "did you mean 'level_IV'?"
    fixed = path.read_text(encoding="utf-8").replace("initial: monitorin", "initial: monitoring")
    fixed = fixed.replace("to: level_4", "to: level_IV").replace("casualtys", "casualties")
    fixed = fixed.replace("actions: [ { action: raise_alert, params: { level: info, channel: ops, message: x } } ]\n",
                          "")
    path.write_text(fixed, encoding="utf-8")
    assert _problems(path) == [("policy.yaml", 16, "E_CHART_UNREACHABLE", "/states/orphan")]


def test_compiled_statechart_has_a_start_state_and_discards(tmp_path):
    policy = load_policy(POLICIES_DIR / "emergency" / "incident_escalation.yaml")
    [(name, chart)] = compile_policy(policy.policy, policy.rules).items()
    assert name == "emergency_incident_escalation$state"
    assert chart["init"] == {"t_0": {"to": "monitoring", "run": "emergency.incident_escalation#start"}}
    assert chart["closed"] == {}
    for state in ("monitoring", "level_IV", "level_III", "level_II", "level_I"):
        assert chart[state]["t_discard"]["to"] == state and chart[state]["t_discard"]["pri"] == 100


def test_escalation_over_many_incidents_matches_the_thresholds():
    policy = load_policy(POLICIES_DIR / "emergency" / "incident_escalation.yaml")
    import random
    rng = random.Random(3)

    def level(deaths, serious):
        if deaths >= 30 or serious >= 100:
            return 4
        if deaths >= 10 or serious >= 50:
            return 3
        if deaths >= 3 or serious >= 10:
            return 2
        return 1

    events, expected = [], []
    for n in range(40):
        reached = 0
        for k in range(rng.randint(1, 4)):
            deaths, serious = rng.choice([0, 1, 4, 12, 35]), rng.choice([0, 5, 20, 60, 120])
            events.append({"type": "incident_assessed", "id": f"a{n}-{k}", "incident_id": f"E{n}",
                           "casualties": deaths + serious + 1, "deaths": deaths, "serious_injuries": serious,
                           "ts": f"2025-03-01T08:{k:02d}:00+08:00"})
            new = level(deaths, serious)
            if new > reached:
                expected.append((f"E{n}", ["IV", "III", "II", "I"][new - 1]))
                reached = new
    result = evaluate([policy], events, clock=EVENT_TIME)
    fired = [(r.params["incident_id"], r.params["level"]) for r in result.outbox
             if r.action == "activate_emergency_plan"]
    assert sorted(fired) == sorted(expected) and result.errors == []


def test_decision_table_errors_point_into_the_table(write_policy, tmp_path):
    (tmp_path / "t.csv").write_text(
        "category,casualties >,alarm_priorty in,action,unit_type,target,reason\n"
        "010000,x,,dispatch_order,special_police,{{ m.address }},r\n"
        "9,,,dispatch_ordr,patrol_police,a,b\n"
        ",,,dispatch_order,tank,a,b\n", encoding="utf-8")
    path = write_policy("""
        id: command.table_errors
        version: 1
        kind: decision_table
        title: 决策表错误
        owner: 指挥中心
        priority: 2
        partition_by: call_id
        table: t.csv
        when: { event: alarm_received }
    """)
    got = _problems(path)
    assert got == [
        ("t.csv", 1, "E_UNKNOWN_FIELD", "/header/1"),
        ("t.csv", 1, "E_UNKNOWN_FIELD", "/header/2"),
        ("t.csv", 3, "E_TYPE", "/rows/1/category"),
        ("t.csv", 3, "E_UNKNOWN_ACTION", "/rows/1/action"),
        ("t.csv", 4, "E_ACTION_PARAM", "/rows/2/params/unit_type"),
    ]


def test_decision_table_first_matching_row_wins_and_xlsx_reads_the_same(write_policy, tmp_path):
    header = ["alarm_priority in", "action", "unit_type", "target", "reason", "urgency"]
    rows = [["1|2", "dispatch_order", "special_police", "{{ m.address }}", "高级别", "emergency"],
            ["", "dispatch_order", "patrol_police", "{{ m.address }}", "其他", "routine"]]
    (tmp_path / "d.csv").write_text("\n".join(",".join(r) for r in [header] + rows) + "\n", encoding="utf-8")
    book = openpyxl.Workbook()
    for row in [header] + rows:
        book.active.append(row)
    book.save(tmp_path / "d.xlsx")
    text = """
        id: command.table_demo
        version: 1
        kind: decision_table
        title: 决策表示例
        owner: 指挥中心
        priority: 2
        partition_by: call_id
        table: d.csv
        when: { event: alarm_received }
    """
    csv_policy = load_policy(write_policy(text, "csv.yaml"))
    xlsx_policy = load_policy(write_policy(text.replace("d.csv", "d.xlsx"), "xlsx.yaml"))
    calls = [{"type": "alarm_received", "id": f"c{p}", "call_id": f"J{p}", "alarm_priority": str(p),
              "address": f"地址{p}"} for p in (1, 2, 3, 4)]
    for policy in (csv_policy, xlsx_policy):
        result = evaluate([policy], calls, clock=lambda: dt.datetime.now(dt.timezone.utc))
        assert [(r.params["unit_type"], r.params["target"]) for r in result.outbox] == [
            ("special_police", "地址1"), ("special_police", "地址2"), ("patrol_police", "地址3"),
            ("patrol_police", "地址4")]
    assert csv_policy.sha256 != xlsx_policy.sha256
    assert [r.priority for r in csv_policy.rules] == [1, 2]


def test_changing_the_table_changes_the_policy_hash(write_policy, tmp_path):
    (tmp_path / "d.csv").write_text("action,level,channel,message\nraise_alert,info,ops,x\n", encoding="utf-8")
    path = write_policy("""
        id: command.hash_demo
        version: 1
        kind: decision_table
        title: 决策表哈希
        owner: 指挥中心
        priority: 2
        partition_by: call_id
        table: d.csv
        when: { event: alarm_received }
    """)
    before = load_policy(path).sha256
    (tmp_path / "d.csv").write_text("action,level,channel,message\nraise_alert,info,ops,y\n", encoding="utf-8")
    assert load_policy(path).sha256 != before
