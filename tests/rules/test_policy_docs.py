"""`safecity rules docs`: the HTML catalogue with each policy's words, diagram, test results and last-run actions."""
import json
import re

from typer.testing import CliRunner

from safecity.orchestration.cli import app
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.executor import payload
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy
from safecity.rules.policy_docs import chart_svg, level_conditions, policy_markdown
from safecity.rules.testing import run_policy_tests, scenario_events

ESCALATION = POLICIES_DIR / "emergency" / "incident_escalation.yaml"


def test_ladder_diagram_has_every_level_in_order_with_its_conditions():
    loaded = load_policy(ESCALATION)
    svg = chart_svg(loaded.policy, level_conditions(loaded))
    labels = re.findall(r'text-anchor="middle">([^<]+)</text>', svg)
    assert labels == ["I 特别重大", "II 重大", "III 较大", "IV 一般", "monitoring", "closed"]
    assert "死亡人数不少于30，或重伤人数（含急性工业中毒）不少于100" in svg
    assert svg.count("marker-end") == 4  # monitoring → IV → III → II → I


def test_chart_diagram_has_one_arc_per_move():
    policy = load_policy(POLICIES_DIR / "camera" / "key_point_offline.yaml").policy
    svg = chart_svg(policy)
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', svg) == ["watching", "offline", "removed"]
    assert svg.count("marker-end") == 4  # watching→offline, watching→removed, offline→removed, offline→watching


def test_markdown_lists_tests_with_results_and_fired_actions():
    loaded = load_policy(ESCALATION)
    results = run_policy_tests(loaded)
    fired = [{"policy_id": loaded.id, "action": a} for a in ["activate_emergency_plan"] * 3 + ["notify_leadership"]]
    page = policy_markdown(loaded, fired, results)
    assert "- 逐级升级 IV→III→II→I (step by step) ✅" in page
    assert "Actions fired in this run: 4**\n- activate_emergency_plan: 3\n- notify_leadership: 1" in page


def test_docs_command_writes_the_catalogue(tmp_path):
    loaded = load_policy(ESCALATION)
    outcome = evaluate([loaded], scenario_events(loaded.policy.tests[0], 0), clock=EVENT_TIME)
    fired = tmp_path / "fired.jsonl"
    fired.write_text("".join(json.dumps(payload(r), ensure_ascii=False) + "\n" for r in outcome.outbox),
                     encoding="utf-8")
    out = tmp_path / "site" / "policies.html"
    result = CliRunner().invoke(app, ["rules", "docs", "--out", str(out), "--fired", str(fired)])
    assert result.exit_code == 0, result.output
    assert "0 failing tests, 7 actions" in result.output
    page = out.read_text(encoding="utf-8")
    for policy in load_policies():
        assert f'<section id="{policy.id}">' in page
    assert page.count("<svg") == len(load_policies())
    section = page.split('<section id="emergency.incident_escalation">')[1].split("</section>")[0]
    assert "Actions fired in the last run: 7" in section
    assert "<tr><td>activate_emergency_plan</td><td>4</td></tr>" in section
    assert section.count('class="pass"') == len(loaded.policy.tests)
