"""`safecity simulate`: every source of the city for the chosen days, then the ground-truth manifest (the faults,
the situations, and every shipped policy's expected actions)."""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from safecity.simulator import calls as calls_module
from safecity.simulator import cameras as cameras_module
from safecity.simulator import network as network_module
from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import SCALES
from safecity.simulator.world import World

log = logging.getLogger(__name__)
Sink = Callable[[str, bytes, bytes], None]
STATUS_TOPIC = "gb28181.device_status"


@dataclass
class SimulationSummary:
    out: str
    seconds: float
    counts: dict[str, object] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)


PASSES_TOPIC = "viid.motor_vehicles"
TOPIC_PARTITIONS = 3


def kafka_sink(bootstrap: str):
    """A producer for the streams; returns (sink, close). Topics are created first (a message sent while a topic
    is being auto-created can be refused), and a send that fails after its retries fails the simulation."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from safecity.simulator.network import TOPICS as NETWORK_TOPICS

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    for topic in (PASSES_TOPIC, STATUS_TOPIC, *NETWORK_TOPICS):
        try:
            admin.create_topics([NewTopic(topic, num_partitions=TOPIC_PARTITIONS, replication_factor=1)])
        except TopicAlreadyExistsError:
            pass
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10, linger_ms=20,
                             batch_size=256 * 1024, max_request_size=8 * 1024 * 1024)
    failures: list[Exception] = []

    def sink(topic: str, key: bytes, value: bytes) -> None:
        producer.send(topic, key=key, value=value).add_errback(failures.append)

    def close() -> None:
        producer.flush()
        producer.close()
        if failures:
            raise RuntimeError(f"{len(failures)} messages could not be sent to Kafka: {failures[0]!r}")

    return sink, close


def simulate(city: str, start: dt.date, days: int, scale_name: str, seed: int, out: Path,
             kafka: str | None = None, faults: Path | None = None) -> SimulationSummary:
    from safecity.simulator import snapshots, traffic  # the heavier generators

    began = time.monotonic()
    world = World.load(city, seed, faults)
    scale = SCALES[scale_name]
    out.mkdir(parents=True, exist_ok=True)
    first = dt.datetime.combine(start, dt.time())
    last_day = start + dt.timedelta(days=days - 1)
    # "Now" for the data: the morning after the last simulated day, so that future timestamps are really future.
    now = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(6))
    manifest = Manifest(seed, scale_name, start.isoformat(), days,
                        clock=now.replace(tzinfo=ZoneInfo(world.city.timezone)).isoformat())
    sink, close = kafka_sink(kafka) if kafka else (None, lambda: None)
    summary = SimulationSummary(str(out), 0.0)
    try:
        log.info("cameras: building the registry of %d cameras", scale.cameras)
        registry = cameras_module.build_registry(world, scale)
        cameras_module.simulate_outages(world, registry, first, days, manifest,
                                        f"heartbeats/status_{start:%Y%m%d}.jsonl")
        # The network above the cameras, and its faults: the devices below a failed link go silent for its spans.
        network = network_module.build_network(world, registry)
        network_module.plant_faults(world, network, first, manifest)
        summary.counts["catalog"] = cameras_module.write_catalog(world, registry, out, manifest, last_day)
        summary.counts["heartbeats"] = cameras_module.write_heartbeats(registry, scale, first, days, out, manifest,
                                                                       sink=sink)
        summary.counts["network_registry"] = network_module.write_registry(network, out, manifest, last_day)
        summary.counts["network_telemetry"] = network_module.write_telemetry(world, network, first, days, out,
                                                                             manifest, sink=sink)
        channels = [{"device_id": c.device_id, "division": c.division, "use_type": c.use_type}
                    for c in registry if c.type_code != "118"]
        summary.counts["snapshots"] = snapshots.write_snapshots(world, scale, channels, out, manifest, last_day)
        checkpoints = traffic.build_checkpoints(world, scale)
        summary.counts["passes"] = traffic.write_passes(world, scale, checkpoints, start, days, out, manifest,
                                                        sink=sink, now=now)
        detectors = traffic.build_detectors(world, scale)
        summary.counts["detector_registry"] = traffic.write_detector_registry(detectors, out, manifest, last_day)
        summary.counts["detectors"] = traffic.write_detector_flows(world, scale, detectors, start, days, out, manifest)
        summary.counts["incidents"] = traffic.write_incidents(world, scale, start, days, out, manifest)
        summary.counts["calls"] = calls_module.write_calls(world, scale, first, days, out, manifest, now)
        from safecity.simulator import access, support
        summary.counts["support"] = support.write_support(world, start, days, out, manifest, channels)
        summary.counts["access_logs"] = access.write_access_logs(world, start, days, out, manifest)
    finally:
        close()
    from safecity.simulator.ground_truth import expected_actions
    manifest.expected_actions = expected_actions(world, manifest, registry)
    manifest.write(out)
    summary.faults = manifest.counts()
    summary.seconds = round(time.monotonic() - began, 1)
    return summary
