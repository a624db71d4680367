"""The fan-out benchmark in a small run: both ways of handing a poll to the partition engines give the same actions
(its own check), each poll is timed both ways, and the written figures are the returned ones."""
import json

from benchmarks.engine_fanout import main


def test_both_ways_give_the_same_actions_and_every_poll_is_timed(tmp_path):
    summary = main(["--engines", "3", "--polls", "30", "--per-batch", "4", "--out", str(tmp_path)])
    assert summary["checks"] == {"same_actions": True, "actions_fired": True}
    assert summary["actions"] > 0
    for way in ("one_by_one", "together"):
        assert 0 < summary[way]["p50_ms"] <= summary[way]["p99_ms"]
    assert summary["p50_ratio"] == summary["together"]["p50_ms"] / summary["one_by_one"]["p50_ms"]
    assert json.loads((tmp_path / "engine_fanout.json").read_text(encoding="utf-8")) == json.loads(
        json.dumps(summary))
