"""The ingestion benchmark runs end to end on a few thousand passes, Kafka included, and its numbers add up: every
generated record is received by files and Kafka alike, and both file them in silver and quarantine the same way."""
import json

import pytest

import benchmarks.ingestion as bench


def test_benchmark_on_a_small_day_counts_every_record_the_same_from_files_and_kafka(tmp_path, kafka_bootstrap):
    out = tmp_path / "out"
    summary = bench.main(["--scale", "small", "--fraction", "0.15", "--repeat", "1", "--bootstrap", kafka_bootstrap,
                          "--work", str(tmp_path / "work"), "--out", str(out), "--phases"])
    records = summary["data"]["records"]
    assert 2_000 < records < 10_000 and summary["data"]["files"] >= 2
    assert summary["produce"]["messages"] == records
    for method in bench.METHODS:
        assert summary[method]["rows"] == records
        assert summary[method]["median_rows_per_s"] > 0 and summary[method]["peak_mb"] > 0
        assert len(summary["runs"][method]) == 1
    assert set(summary["ratios"]) == {"files_vs_plain", "kafka_vs_plain", "kafka_vs_consume"}
    assert summary["ratios"]["kafka_vs_consume"] == \
        summary["kafka"]["median_rows_per_s"] / summary["consume"]["median_rows_per_s"]
    counts = summary["counts"]
    assert counts["silver"] + counts["quarantined"] == records
    for run in summary["runs"]["files"] + summary["runs"]["kafka"]:
        assert (run["received"], run["silver"], run["quarantined"]) == (records, counts["silver"],
                                                                        counts["quarantined"])
    # The simulator's injected faults are what the quarantine holds, by reason.
    faults = summary["data"]["faults"]
    assert counts["reasons"] == {reason: n for reason, n in (("E_DUPLICATE_ROW", faults["duplicate"]),
                                                             ("E_FORMAT", faults["bad_plate"]),
                                                             ("E_FUTURE_TIME", faults["future_time"])) if n}
    assert json.loads((out / "ingestion.json").read_text(encoding="utf-8"))["counts"] == counts
    # The phase timers wrap functions by name: each must still find its function and be charged time.
    for method, own in (("files", "read file + parse JSON + Arrow table"), ("kafka", "Kafka: poll (incl. waits for quiet)")):
        phases = summary["phases"][method]["phases"]
        for name in (own, "conform SQL (checks, typing)", "Iceberg: staged appends and their commit",
                     "bronze: record text (to_json) and sha256"):
            assert phases[name] > 0, (method, name, phases)
        assert sum(phases.values()) == pytest.approx(summary["phases"][method]["seconds"])


def test_disagreeing_counts_fail_loudly():
    run = {"rows": 10, "received": 10, "silver": 9, "quarantined": 1, "reasons": {"E_FORMAT": 1}}
    results = {"plain": [{"rows": 10}], "files": [run], "kafka": [{**run, "silver": 10, "quarantined": 0,
                                                                      "reasons": {}}]}
    with pytest.raises(AssertionError, match="files and Kafka disagree"):
        bench.check_agreement(results, 10)
    with pytest.raises(AssertionError, match="consume run 1 read 9 rows of 10"):
        bench.check_agreement({**results, "kafka": [run], "consume": [{"rows": 9}]}, 10)
    with pytest.raises(AssertionError, match="received 10 records of 11"):
        bench.check_agreement({**results, "kafka": [run]}, 11)
