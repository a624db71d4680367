import pytest

from safecity.rules.loader import load_policies, load_policy
from safecity.rules.testing import run_policy_tests


@pytest.mark.parametrize("loaded", load_policies(), ids=lambda p: p.id)
def test_shipped_policy_tests_pass(loaded):
    results = run_policy_tests(loaded)
    assert len(results) == len(loaded.policy.tests) >= 3
    assert [(r.name, r.failures) for r in results if not r.passed] == []
    assert any(r.fired for r in results) and any(not r.fired for r in results)


def test_wrong_expectations_fail(shipped, write_policy):
    text = shipped.path.read_text(encoding="utf-8")
    broken = text.replace("          level: warning\n          channel: ops_center\n          message:",
                          "          level: critical\n          channel: ops_center\n          message:", 1)
    broken = broken.replace("    expect: []", "    expect: [ { action: raise_alert } ]", 1)
    assert broken.count("level: critical") == 1 and broken != text
    results = run_policy_tests(load_policy(write_policy(broken)))
    assert [r.passed for r in results] == [False, False, True]
    assert "param 'level': expected 'critical', got 'warning'" in results[0].failures[0]
    assert "expected actions ['raise_alert'], fired []" in results[1].failures[0]


def test_rule_errors_fail_a_test(write_policy):
    loaded = load_policy(write_policy("""
        id: camera.no_name
        version: 1
        title: 名称缺失
        owner: 科技信息化处
        priority: 1
        partition_by: device_id
        when: { event: camera_registered }
        actions: [ { action: raise_alert, params: { level: info, channel: ops, message: "{{ m.manufacturer }}" } } ]
        tests:
          - name: 厂商缺失
            given: [ { event: camera_registered, device_id: "13030200001320000001" } ]
            expect: []
    """))
    [result] = run_policy_tests(loaded)
    assert not result.passed and result.failures[0].startswith("E_RENDER")
