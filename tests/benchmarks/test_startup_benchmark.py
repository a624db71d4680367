"""The start-up benchmark times the same command with the parsed-YAML cache and without it, and fails when the two
print different things."""
import pytest

import benchmarks.startup as bench


def test_both_modes_run_the_command_and_agree(tmp_path):
    summary = bench.main(["--repeat", "1", "--out", str(tmp_path)])
    assert summary["cached_files"] > 100  # the standards, the site and the policies
    assert set(summary["median_seconds"]) == {"off", "warm"} and all(s > 0 for s in summary["median_seconds"].values())
    assert summary["speedup"] == summary["median_seconds"]["off"] / summary["median_seconds"]["warm"]
    assert (tmp_path / "startup.json").exists()


def test_different_outputs_fail(monkeypatch):
    outputs = iter(["12 policies OK\n", "12 policies OK\n", "11 policies OK\n"])
    monkeypatch.setattr(bench, "run_once", lambda mode, cache: {"mode": mode, "seconds": 1.0, "output": next(outputs)})
    with pytest.raises(AssertionError, match="different outputs"):
        bench.benchmark(1)
