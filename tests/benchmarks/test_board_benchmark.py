"""The board benchmark runs end to end on a few commits: every committed row reaches the board's stream, and the
figures are measured, not defaulted (the board cannot beat the bare snapshot watcher's floor by much)."""
import json

import benchmarks.board as bench


def test_every_committed_row_reaches_the_stream_and_is_timed(tmp_path):
    out = tmp_path / "out"
    summary = bench.main(["--commits", "6", "--gap", "0.3", "--repeat", "1", "--work", str(tmp_path / "work"),
                          "--out", str(out)])
    run = summary["runs"][0]
    # One level-III escalation per commit: the plan and the duty leader's notification.
    assert (run["commits"], run["rows"], run["rows_seen"]) == (6, 12, 12)
    assert 0 < summary["board_p50_ms"] <= summary["board_p99_ms"] < 5000
    assert summary["bare_p50_ms"] <= summary["bare_p99_ms"] < 5000
    assert json.loads((out / "board.json").read_text())["board_p50_ms"] == summary["board_p50_ms"]
