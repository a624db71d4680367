"""`safecity simulate` end to end: byte-identical for a seed, a manifest that accounts for every file, and the
streams in Kafka (a real broker) equal to what the files hold."""
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SAFECITY = str(Path(sys.executable).with_name("safecity"))


def simulate(out: Path, *extra: str, seed: int = 3) -> subprocess.CompletedProcess:
    completed = subprocess.run([SAFECITY, "simulate", "--city", "qinhuangdao", "--start", "2026-07-15", "--days", "1",
                                "--scale", "small", "--seed", str(seed), "--out", str(out), *extra],
                               capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "a"
    completed = simulate(out)
    return out, completed, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_same_seed_gives_byte_identical_output(simulated, tmp_path):
    out, _, _ = simulated
    simulate(tmp_path / "b")
    assert digests(out) == digests(tmp_path / "b")


def test_manifest_lists_every_file_written(simulated):
    out, completed, manifest = simulated
    written = set(digests(out)) - {"manifest.json"}
    assert written == set(manifest["files"])
    kinds = Counter(entry["kind"] for entry in manifest["files"].values())
    for kind in ("catalog_csv", "catalog_json", "heartbeats_jsonl", "snapshot", "passes_json", "calls_csv",
                 "cases_csv", "detector_registry_csv", "network_nodes_csv", "network_links_csv",
                 "network_attachments_csv", "interface_status_jsonl", "interface_counters_jsonl", "link_probes_jsonl"):
        assert kinds[kind] > 0, kind
    assert "ground truth" in completed.stdout and "manifest.json" in completed.stdout


def test_streams_reach_kafka_exactly_as_written(tmp_path, kafka_bootstrap):
    from kafka import KafkaConsumer, TopicPartition

    out = tmp_path / "k"
    simulate(out, "--kafka", kafka_bootstrap, seed=4)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    expected_passes = sum(e["records"] for e in manifest["files"].values() if e["kind"] == "passes_json")
    expected_status = sum(e["records"] for e in manifest["files"].values() if e["kind"] == "heartbeats_jsonl")
    network = {topic: sum(e["records"] for e in manifest["files"].values() if e["kind"] == kind)
               for topic, kind in (("safecity.network.telemetry.status", "interface_status_jsonl"),
                                   ("safecity.network.telemetry.counters", "interface_counters_jsonl"),
                                   ("safecity.network.telemetry.probes", "link_probes_jsonl"))}
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=5000,
                             auto_offset_reset="earliest")
    partitions = [TopicPartition(topic, p) for topic in ("viid.motor_vehicles", "gb28181.device_status", *network)
                  for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    counts = Counter(message.topic for message in consumer)
    consumer.close()
    assert counts == {"viid.motor_vehicles": expected_passes, "gb28181.device_status": expected_status, **network}
    assert all(network.values())
