"""Kafka ingestion against a real Kafka-protocol broker: offsets live in the Iceberg commits, so a re-read adds
nothing and a run killed between commits is finished on restart without loss or doubling."""
import datetime as dt
import json
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.exactly_once import append_once
from safecity.ingestion.mapping import LoadedMapping, load_mapping, mapping_path
from safecity.ingestion.streams import StreamIngestor, committed_ranges

AS_OF = dt.datetime(2026, 7, 2, 1, tzinfo=dt.timezone.utc)


def pass_record(n: int, plate: str = "冀C12345") -> dict:
    """A GA/T 1400 MotorVehicleObject as the VIID platform sends it (one per message)."""
    device = "13030200051190000013"
    seconds = f"{n % 60:02d}"
    source = f"{device}02202607010800{seconds}{n:05d}"
    return {"MotorVehicleID": f"{source}0200001", "InfoKind": 1, "SourceID": source,
            "TollgateID": "13030200051210000001", "DeviceID": device, "LaneNo": 1 + n % 3, "Direction": "1",
            "PassTime": f"202607010800{seconds}", "HasPlate": True, "PlateClass": "02", "PlateColor": "5",
            "VehicleClass": "K33", "PlateNo": plate, "VehicleColor": "3", "Speed": 40 + n % 20,
            "StorageUrl1": f"http://10.13.1.11:6120/pic/{n}.jpg"}


@pytest.fixture
def topic(kafka_bootstrap):
    name = f"viid.motor_vehicles.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    admin.close()
    return name


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for number, value in enumerate(values):
        producer.send(topic, key=str(number % 7).encode(), value=value)
    producer.flush()
    producer.close()


@pytest.fixture
def make_ingestor(settings, catalogue, kafka_bootstrap, topic):
    loaded = load_mapping(mapping_path("viid_motor_vehicles"), catalogue)
    loaded = LoadedMapping(loaded.mapping.model_copy(update={"topic": topic}), loaded.path, loaded.sha256)

    def make(**kwargs):
        return StreamIngestor(open_catalog(settings), catalogue, loaded, kafka_bootstrap, as_of=AS_OF,
                              poll_ms=500, **kwargs)
    return make


def table_rows(ingestor, name):
    return ingestor.batches.tables[name].refresh().scan().to_arrow()


def test_every_message_lands_once_and_a_rerun_adds_nothing(make_ingestor, kafka_bootstrap, topic):
    good = [json.dumps(pass_record(n), ensure_ascii=False).encode() for n in range(120)]
    bad_plate = [json.dumps(pass_record(n, plate="冀C-?"), ensure_ascii=False).encode() for n in range(120, 125)]
    broken = [b"{not json", b"[1, 2]"]
    resent = good[:3]
    produce(kafka_bootstrap, topic, good + bad_plate + broken + resent)

    first = make_ingestor(max_batch=40).run()
    assert first.received == 130
    assert (first.silver, first.quarantined) == (120, 10)
    reasons = first.reasons
    assert reasons["E_FORMAT"] == 5 and reasons["E_JSON"] == 1 and reasons["E_RECORD"] == 1
    assert reasons["E_DUPLICATE_ROW"] == 3
    silver = table_rows(make_ingestor(), "silver")
    assert sorted(silver.column("motor_vehicle_id").to_pylist()) == sorted(pass_record(n)["MotorVehicleID"]
                                                                         for n in range(120))
    # Lineage names topic and partition; the offsets read are exactly the ones the commits record.
    bronze = table_rows(make_ingestor(), "bronze")
    assert {f.split("/")[-2] for f in bronze.column("_file").to_pylist()} == {topic}
    ranges = committed_ranges(make_ingestor().batches.tables["bronze"], topic)
    covered = {(r.partition, o) for r in ranges.values() for o in (r.first, r.last)}
    lines = {(int(f.rsplit("/", 1)[1]), o) for f, o in zip(bronze.column("_file").to_pylist(),
                                                            bronze.column("_line").to_pylist())}
    assert covered <= lines and len(lines) == 130

    snapshots = len(make_ingestor().batches.tables["bronze"].snapshots())
    again = make_ingestor().run()
    assert again.files == [] and len(make_ingestor().batches.tables["bronze"].refresh().snapshots()) == snapshots

    produce(kafka_bootstrap, topic, [json.dumps(pass_record(n), ensure_ascii=False).encode()
                                     for n in range(200, 210)])
    more = make_ingestor().run()
    assert (more.received, more.silver) == (10, 10)
    assert table_rows(make_ingestor(), "bronze").num_rows == 140


def test_a_run_killed_between_commits_is_finished_without_loss_or_doubling(make_ingestor, kafka_bootstrap, topic,
                                                                          monkeypatch):
    from safecity.lakehouse import exactly_once

    produce(kafka_bootstrap, topic, [json.dumps(pass_record(n), ensure_ascii=False).encode() for n in range(90)])
    commits = []

    def killed_before_third_commit(table, data, batch_id, properties=None):
        commits.append(table.name())
        if len(commits) == 3:
            raise KeyboardInterrupt("killed between the quarantine and silver commits")
        return append_once(table, data, batch_id, properties)

    monkeypatch.setattr(exactly_once, "append_once", killed_before_third_commit)
    with pytest.raises(KeyboardInterrupt):
        make_ingestor(max_batch=25).run()
    monkeypatch.setattr(exactly_once, "append_once", append_once)

    ingestor = make_ingestor(max_batch=25)
    following, pending = ingestor.positions()
    assert len(pending) == 1 and pending[0].last - pending[0].first + 1 <= 25
    report = ingestor.run()
    assert report.finished_pending == 1
    silver = table_rows(ingestor, "silver")
    ids = silver.column("motor_vehicle_id").to_pylist()
    assert len(ids) == 90 and len(set(ids)) == 90
    assert table_rows(ingestor, "bronze").num_rows == 90
    assert table_rows(ingestor, "quarantine").num_rows == 0


def test_offsets_survive_snapshot_expiry(make_ingestor, kafka_bootstrap, topic, settings):
    from safecity.lakehouse.maintenance import maintain

    produce(kafka_bootstrap, topic, [json.dumps(pass_record(n), ensure_ascii=False).encode() for n in range(30)])
    make_ingestor(max_batch=10).run()
    results = maintain(open_catalog(settings), older_than=dt.timedelta(0), keep_last=1)
    assert sum(r.snapshots_expired for r in results if r.table.startswith("bronze.")) > 0
    again = make_ingestor().run()
    assert again.files == []
    produce(kafka_bootstrap, topic, [json.dumps(pass_record(n), ensure_ascii=False).encode() for n in range(30, 35)])
    assert make_ingestor().run().received == 5
    assert table_rows(make_ingestor(), "silver").num_rows == 35
