import hashlib
import re

import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy
from safecity.rules.policy import Comparison

CJK = re.compile(r"[\u4e00-\u9fff]")

BROKEN = """
id: camera.broken_example
version: 1
title: 测试用坏策略
owner: 科技信息化处
priority: 5
partition_by: device_id
descripton: 拼错的键
when:
  event: camera_registered
  where:
    statuss: "OFF"
    use_type: { in: ["3", "9"] }
    longitude: { gte: abc }
    name: { gtx: a }
actions:
  - action: raise_alrt
    params: { level: warning }
  - action: raise_alert
    params:
      level: severe
      channel: ops_center
      message: "摄像机 {{ m.nam }} 离线"
tests:
  - name: t
    given: [ { event: camera_registerd, device_id: "1" } ]
    expect: []
"""


def _problems(path):
    with pytest.raises(YamlFileError) as caught:
        load_policy(path)
    return caught.value.problems


def test_broken_policy_reports_every_problem_at_its_line(write_policy):
    problems = _problems(write_policy(BROKEN))
    assert [(p.line, p.code, p.pointer) for p in problems] == [
        (7, "E_UNKNOWN_KEY", "/descripton"),
        (11, "E_UNKNOWN_FIELD", "/when/where/statuss"),
        (12, "E_TYPE", "/when/where/use_type/in/1"),
        (13, "E_TYPE", "/when/where/longitude/gte"),
        (14, "E_UNKNOWN_KEY", "/when/where/name/gtx"),
        (16, "E_UNKNOWN_ACTION", "/actions/0/action"),
        (20, "E_ACTION_PARAM", "/actions/1/params/level"),
        (22, "E_TEMPLATE", "/actions/1/params/message"),
        (25, "E_UNKNOWN_EVENT", "/tests/0/given/0/event"),
    ]
    hints = {p.pointer: p.hint for p in problems}
    assert hints["/descripton"] == "did you mean 'description'?"
    assert hints["/when/where/statuss"] == "did you mean 'status'?"
    assert hints["/when/where/name/gtx"] == "did you mean 'gt'?"
    assert hints["/actions/0/action"] == "did you mean 'raise_alert'?"
    assert hints["/actions/1/params/message"] == "did you mean 'name'?"
    assert hints["/tests/0/given/0/event"] == "did you mean 'camera_registered'?"
    for problem in problems:
        assert CJK.search(problem.message) and re.search(r" / [A-Za-z']", problem.message), problem
    assert str(problems[0]).startswith(f"{problems[0].file}:7: E_UNKNOWN_KEY at /descripton: ")


def test_more_catalogue_problems(write_policy):
    path = write_policy("""
        id: camera.more_problems
        version: 1
        title: 更多错误
        owner: 科技信息化处
        priority: 1
        partition_by: device_id
        when:
          event: camera_registered
          where:
            use_type: 3
            name: { gt: "A" }
        actions:
          - action: create_work_order
            params: { category: camera_repair, description: "{{ cam.name }} {{ name | upper }}", sla_hours: 100, extra: 1 }
        tests:
          - name: t
            given: [ { event: camera_registered, name: x, colour: red } ]
            expect: [ { action: create_work_order, params: { sla: 4 } }, { action: nope } ]
    """)
    got = [(p.line, p.code, p.pointer) for p in _problems(path)]
    assert got == [
        (10, "E_TYPE", "/when/where/use_type"),
        (11, "E_TYPE", "/when/where/name/gt"),
        (14, "E_TEMPLATE", "/actions/0/params/description"),  # {{ name | upper }}: unknown filter
        (14, "E_TEMPLATE", "/actions/0/params/description"),  # unbound alias cam
        (14, "E_ACTION_PARAM", "/actions/0/params/sla_hours"),
        (14, "E_ACTION_PARAM", "/actions/0/params/extra"),
        (17, "E_UNKNOWN_FIELD", "/tests/0/given/0/colour"),
        (17, "E_REQUIRED", "/tests/0/given/0"),  # no device_id, the partition field
        (18, "E_ACTION_PARAM", "/tests/0/expect/0/params/sla"),
        (18, "E_UNKNOWN_ACTION", "/tests/0/expect/1/action"),
    ]
    messages = {p.pointer: p.message for p in _problems(path)}
    assert "加引号" in messages["/when/where/use_type"]  # a code written as a number: tell the author to quote it


def test_unknown_event_and_partition_field(write_policy):
    path = write_policy("""
        id: camera.unknown_event
        version: 0
        title: 未知事件
        owner: 科技信息化处
        priority: 1
        partition_by: device_id
        when: { event: camera_registerd, where: { statuss: "OFF" } }
        actions: [ { action: raise_alert, params: { level: info, channel: ops, message: "{{ m.whatever }}" } } ]
    """)
    assert [(p.line, p.code, p.pointer) for p in _problems(path)] == [
        (2, "E_TYPE", "/version"),
        (7, "E_UNKNOWN_EVENT", "/when/event"),
    ]
    path = write_policy("""
        id: camera.unknown_partition
        version: 1
        title: 未知分区字段
        owner: 科技信息化处
        priority: 1
        partition_by: devce_id
        when: { event: camera_registered }
        actions: [ { action: raise_alert, params: { level: info, channel: ops, message: 离线 } } ]
    """, "second.yaml")
    [problem] = _problems(path)
    assert (problem.line, problem.code, problem.hint) == (6, "E_UNKNOWN_FIELD", "did you mean 'device_id'?")


def test_english_only_title_and_missing_keys(write_policy):
    path = write_policy("""
        id: camera.english
        version: 1
        title: Camera offline
        owner: 科技信息化处
        partition_by: device_id
        when: { event: camera_registered }
        actions: []
    """)
    got = [(p.line, p.code, p.pointer) for p in _problems(path)]
    assert got == [(1, "E_REQUIRED", "/priority"), (3, "E_TYPE", "/title"), (7, "E_REQUIRED", "/actions")]


def test_whole_placeholder_params_are_checked_at_fire_time_not_load_time(write_policy):
    # sla_hours is an integer; "{{ m.longitude }}" is text until it is filled, so load must not reject it.
    loaded = load_policy(write_policy("""
        id: camera.templated_int
        version: 1
        title: 模板整数参数
        owner: 科技信息化处
        priority: 1
        partition_by: device_id
        when: { event: camera_registered }
        actions:
          - action: create_work_order
            params: { category: camera_repair, description: x, sla_hours: "{{ m.longitude }}" }
    """))
    assert loaded.policy.actions[0].params["sla_hours"] == "{{ m.longitude }}"


def test_good_policy_loads_with_hash_and_normalised_conditions(good_policy):
    loaded = load_policy(good_policy)
    assert loaded.sha256 == hashlib.sha256(good_policy.read_bytes()).hexdigest()
    assert (loaded.id, loaded.version, loaded.ruleset_name) == ("camera.any_offline", 2, "camera_any_offline")
    assert loaded.policy.when.where["status"] == Comparison(ne="ON")
    assert loaded.policy.when.where["use_type"].operators() == [("in", ["1", "3"])]


def test_shipped_policies_load():
    loaded = load_policies()
    on_disk = sorted(p.relative_to(POLICIES_DIR).as_posix() for p in POLICIES_DIR.rglob("*.yaml"))
    assert [p.path.relative_to(POLICIES_DIR).as_posix() for p in loaded] == on_disk
    packs = {p.id.split(".")[0] for p in loaded}
    assert {"command", "emergency", "security"} <= packs
    assert {p.policy.kind for p in loaded} == {"rule", "statechart", "decision_table", "escalation"}
    assert all(len(p.policy.tests) >= 3 for p in loaded)


def test_duplicate_ids_across_files(write_policy, good_policy):
    text = good_policy.read_text(encoding="utf-8")
    write_policy("# a copy\n" + text, "sub/copy.yaml")
    write_policy(text.replace("id: camera.any_offline", "id: camera_any.offline"), "sub/z_collision.yaml")
    write_policy("id: [\n", "sub/zz_syntax.yaml")
    with pytest.raises(YamlFileError) as caught:
        load_policies(good_policy.parent)
    got = [(p.file.rsplit("/", 1)[-1], p.line, p.code) for p in caught.value.problems]
    assert got == [("zz_syntax.yaml", 2, "E_YAML"), ("copy.yaml", 2, "E_DUPLICATE_ID"),
                   ("z_collision.yaml", 1, "E_DUPLICATE_ID")]
    assert "any_offline.yaml" in caught.value.problems[1].message


def test_missing_directory(tmp_path):
    with pytest.raises(YamlFileError) as caught:
        load_policies(tmp_path / "nowhere")
    assert caught.value.problems[0].code == "E_FILE"
