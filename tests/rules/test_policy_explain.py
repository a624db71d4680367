"""`safecity rules explain`: every shipped policy in plain Chinese and English sentences built from its model."""
import pytest
from typer.testing import CliRunner

from safecity.orchestration.cli import app
from safecity.rules.explain import explain
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy

CJK = __import__("re").compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("loaded", load_policies(), ids=lambda p: p.id)
def test_every_shipped_policy_is_explained_in_both_languages(loaded):
    sentences = explain(loaded)
    assert len(sentences) >= 3
    assert all(CJK.search(s.zh) for s in sentences)
    assert all(s.en[0].isupper() or s.en[0].isdigit() for s in sentences)
    assert loaded.policy.title in sentences[0].zh


def test_escalation_reads_as_its_levels():
    sentences = explain(load_policy(POLICIES_DIR / "emergency" / "incident_escalation.yaml"))
    zh = "\n".join(s.zh for s in sentences)
    assert "分 4 级，从重到轻为 I（特别重大）、II（重大）、III（较大）、IV（一般）。" in zh
    assert "I 级（特别重大）：当收到「警情评估」且死亡人数不少于30，或重伤人数（含急性工业中毒）不少于100时进入" in zh
    assert "报告领导（市领导）" in zh and "级别只升不降" in zh and "当收到「警情结束」时结束。" in zh
    en = "\n".join(s.en for s in sentences)
    assert "Level IV is entered when an event 'Incident assessed' arrives with casualties" in en


def test_window_and_table_sentences():
    window = explain(load_policy(POLICIES_DIR / "command" / "junction_congestion.yaml"))
    assert "15 分钟内（按事件时间）3 次收到「拥堵指数读数」且交通运行指数不少于8.0时" in window[-1].zh
    table = explain(load_policy(POLICIES_DIR / "security" / "duty_coverage.yaml"))
    assert [s.zh.split("：")[0] for s in table[3:]] == ["第 1 行", "第 2 行"]


def test_explain_command_prints_chinese_then_english():
    result = CliRunner().invoke(app, ["rules", "explain", str(POLICIES_DIR / "command" / "blind_spot_incident.yaml")])
    assert result.exit_code == 0, result.output
    zh, en = result.output.split("\n\n", 1)
    assert CJK.search(zh) and "摄像机故障中" in zh and "When an event 'Incident reported' arrives" in en


def test_explain_command_reports_a_broken_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: x.y\nversion: 1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "explain", str(path)])
    assert result.exit_code == 1 and "E_REQUIRED" in result.output
