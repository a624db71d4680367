"""The network benchmark runs end to end on a small network's first hours and its numbers add up against the files it
wrote, counted here apart from the pipeline: every line in silver or quarantine and in the plain copy, a state for
every link of the registry, a utilisation for every counter sample after a link's first, the same states twice."""
import csv
import json

import pytest

import benchmarks.network as bench


def test_a_quick_run_accounts_for_every_line_and_derives_the_same_states_twice(tmp_path):
    out = tmp_path / "out"
    summary = bench.main(["--cameras", "600", "--hours", "2", "--repeat", "2", "--work", str(tmp_path / "work"),
                          "--out", str(out)])
    data = tmp_path / "work" / "data"
    lines = {}
    for source, (name, _) in bench.TELEMETRY.items():
        text = (data / "network_telemetry" / name.format(bench.DAY)).read_text(encoding="utf-8")
        lines[source] = len(text.splitlines())
    assert summary["data"]["lines"] == lines and summary["data"]["rows"] == sum(lines.values()) > 10_000
    for method in bench.METHODS:
        assert [r["rows"] for r in summary["runs"][method]] == [sum(lines.values())] * 2
        assert summary[method]["median_rows_per_s"] > 0 and summary[method]["peak_mb"] > 0
    for source, counts in summary["invariants"]["sources"].items():
        assert counts["silver"] + counts["quarantined"] == lines[source]

    with open(data / "network" / f"links_{bench.DAY:%Y%m%d}.csv", encoding="utf-8", newline="") as handle:
        links = list(csv.DictReader(handle))
    derived = summary["invariants"]["derived"]
    assert derived["silver.link_state"] >= len(links) == summary["data"]["links"]
    assert sum(summary["invariants"]["link_states"].values()) == derived["silver.link_state"]
    # Utilisation is the difference of two samples: one row per counter sample but each interface's first.
    counters = (data / "network_telemetry" / bench.TELEMETRY["network_interface_counters"][0].format(bench.DAY)
                ).read_text(encoding="utf-8")
    interfaces = {(r["agent"], r["ifName"]) for r in map(json.loads, counters.splitlines())}
    assert derived["silver.link_utilisation"] == lines["network_interface_counters"] - len(interfaces)
    digests = {r["link_state_digest"] for r in summary["runs"]["refresh"]}
    assert digests == {summary["invariants"]["link_state_digest"]}
    assert set(summary["ratios"]) == {"ingest_vs_plain", "refresh_vs_plain"}
    assert json.loads((out / "network.json").read_text(encoding="utf-8"))["invariants"] == summary["invariants"]


def test_invariants_fail_loudly():
    sources = {"network_link_probes": {"received": 10, "silver": 9, "quarantined": 1, "reasons": {"E_FORMAT": 1}}}
    refresh = {"link_state_digest": "a", "derived": {"silver.link_state": 3}, "link_states": {"up": 3}}
    results = {"plain": [{"rows": 10}], "ingest": [{"sources": sources}], "refresh": [refresh]}
    assert bench.check_invariants(results, {"network_link_probes": 10})["link_state_digest"] == "a"
    with pytest.raises(AssertionError, match="11 lines in the file, 10 received, 9 silver"):
        bench.check_invariants(results, {"network_link_probes": 11})
    lost = {"network_link_probes": {**sources["network_link_probes"], "silver": 8}}
    with pytest.raises(AssertionError, match="ingest run 2"):
        bench.check_invariants({**results, "ingest": [{"sources": sources}, {"sources": lost}]},
                               {"network_link_probes": 10})
    with pytest.raises(AssertionError, match="refresh runs derive different states"):
        bench.check_invariants({**results, "refresh": [refresh, {**refresh, "link_state_digest": "b"}]},
                               {"network_link_probes": 10})
    with pytest.raises(AssertionError, match="plain run 1 copied 9"):
        bench.check_invariants({**results, "plain": [{"rows": 9}]}, {"network_link_probes": 10})
