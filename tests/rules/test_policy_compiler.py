import copy

import pytest

from safecity.rules.compiler import (action_ref, compile_condition, compile_policies, compile_policy,
                                     parse_action_ref, ruleset_name)
from safecity.rules.loader import load_policy
from safecity.rules.policy import Condition


def test_shipped_policy_compiles_to_one_rule_and_a_catch_all(shipped):
    assert compile_policy(shipped.policy) == {
        "camera_key_point_offline": {
            "r0": {
                "all": [{"m": {"$and": [{"type": "camera_registered"}, {"use_type": "3"}, {"status": "OFF"}]}}],
                "pri": 5,
                "run": "camera.key_point_offline#0",
            },
            "r_evict": {"all": [{"m": {"type": "_evict"}}], "pri": 0, "run": "camera.key_point_offline#_evict"},
            "r_discard_camera_registered": {
                "all": [{"m": {"type": "camera_registered"}}], "pri": 100, "run": "camera.key_point_offline#discard",
            },
        }
    }


def test_every_operator_in_file_then_operator_order():
    condition = Condition.model_validate({"event": "camera_registered", "where": {
        "longitude": {"lte": 120, "gt": 119.5},
        "status": {"ne": "ON"},
        "use_type": {"in": ["1", "3"]},
        "latitude": {"lt": 40, "gte": 39},
        "name": "东口",
    }})
    assert compile_condition(condition) == {"$and": [
        {"type": "camera_registered"},
        {"$gt": {"longitude": 119.5}}, {"$lte": {"longitude": 120}},
        {"$neq": {"status": "ON"}},
        {"$or": [{"use_type": "1"}, {"use_type": "3"}]},
        {"$gte": {"latitude": 39}}, {"$lt": {"latitude": 40}},
        {"name": "东口"},
    ]}


def test_multi_action_policy_is_still_one_rule(good_policy):
    policy = load_policy(good_policy).policy
    compiled = compile_policy(policy)
    assert list(compiled) == ["camera_any_offline"]
    assert [k for k in compiled["camera_any_offline"] if not k.startswith(("r_discard", "r_evict"))] == ["r0"]
    assert compiled["camera_any_offline"]["r0"]["run"] == "camera.any_offline#0"
    assert compiled["camera_any_offline"]["r0"]["pri"] == 3


def test_compile_is_pure(shipped):
    before = copy.deepcopy(shipped.policy.model_dump())
    assert compile_policy(shipped.policy) == compile_policy(shipped.policy)
    assert shipped.policy.model_dump() == before


def test_ruleset_name_collision_is_refused(shipped):
    renamed = shipped.policy.model_copy(update={"id": "camera_key.point_offline"})
    assert ruleset_name(renamed.id) == ruleset_name(shipped.id)
    with pytest.raises(ValueError, match="camera_key_point_offline"):
        compile_policies([shipped.policy, renamed])


def test_action_refs_round_trip():
    assert parse_action_ref(action_ref("camera.key_point_offline", 7)) == ("camera.key_point_offline", 7)
    for bad in ("camera.x", "#1", "camera.x#a"):
        with pytest.raises(ValueError):
            parse_action_ref(bad)
