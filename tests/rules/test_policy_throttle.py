"""`throttle: once within 2h by camera_id`: after a firing, the same key stays silent for the span (event time)."""
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.rules.batch import policy_horizon
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.explain import explain
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.testing import run_policy_tests, scenario_events

POLICY = """\
id: camera.offline_once
version: 1
title: 摄像机离线每两小时提醒一次
owner: 科技信息化处
priority: 5
partition_by: camera_id
when:
  event: camera_health
  all: [status == offline]
throttle: once within 2h by camera_id
actions:
  - { action: raise_alert, params: { level: info, channel: ops, message: "{{ camera_id }} 离线 {{ offline_minutes | 时长 }}" } }
tests:
  - name: 两小时内只提醒一次，之后再提醒 (once per two hours)
    given:
      - { event: camera_health, camera_id: "13030200001320000001", status: offline, offline_minutes: 0, ts: "2025-03-01T08:00:00+08:00" }
      - { event: camera_health, camera_id: "13030200001320000001", status: offline, offline_minutes: 60, ts: "2025-03-01T09:00:00+08:00" }
      - { event: camera_health, camera_id: "13030200001320000002", status: offline, offline_minutes: 0, ts: "2025-03-01T09:00:00+08:00" }
      - { event: camera_health, camera_id: "13030200001320000001", status: offline, offline_minutes: 150, ts: "2025-03-01T10:30:00+08:00" }
    expect:
      - { action: raise_alert, params: { message: "13030200001320000001 离线 0分钟" } }
      - { action: raise_alert, params: { message: "13030200001320000002 离线 0分钟" } }
      - { action: raise_alert, params: { message: "13030200001320000001 离线 2小时30分钟" } }
"""


def test_throttle_keeps_a_key_silent_for_its_span(write_policy):
    loaded = load_policy(write_policy(POLICY))
    results = run_policy_tests(loaded)
    assert [(r.name, r.failures) for r in results if not r.passed] == []
    outcome = evaluate([loaded], scenario_events(loaded.policy.tests[0], 0), clock=EVENT_TIME)
    assert len(outcome.outbox) == 3 and outcome.throttled == {"camera.offline_once": 1}


def test_without_throttle_every_record_fires(write_policy):
    loaded = load_policy(write_policy(POLICY.replace("throttle: once within 2h by camera_id\n", "")))
    results = run_policy_tests(loaded)
    assert not results[0].passed and len(results[0].fired) == 4


def test_batch_rereads_the_throttle_span_and_explain_says_it(write_policy):
    loaded = load_policy(write_policy(POLICY))
    assert loaded.policy.stateless and policy_horizon(loaded.policy) == 7200
    assert explain(loaded)[-1].zh == "同一摄像机编码在 2 小时内（按事件时间）只触发一次。"


@pytest.mark.parametrize("change, code, line", [
    ("throttle: once within 2h by camera_id", "E_UNKNOWN_FIELD", 10),
    ("throttle: twice within 2h", "E_TYPE", 10),
    ("throttle: once within two hours", "E_TYPE", 10),
])
def test_wrong_throttles(write_policy, change, code, line):
    text = POLICY.replace("throttle: once within 2h by camera_id", change.replace("camera_id", "device_id"))
    with pytest.raises(YamlFileError) as caught:
        load_policy(write_policy(text))
    assert (code, line) in [(p.code, p.line) for p in caught.value.problems], str(caught.value)


def test_a_ladder_has_no_throttle(write_policy):
    text = (POLICIES_DIR / "emergency" / "incident_escalation.yaml").read_text(encoding="utf-8")
    text = text.replace("only_up: true", "only_up: true\nthrottle: once within 1h", 1)
    with pytest.raises(YamlFileError) as caught:
        load_policy(write_policy(text))
    assert [p.code for p in caught.value.problems] == ["E_KIND"]
