"""Sensors that start ingestion when there is something to ingest: new files in landing (local folder or bucket)
and Kafka consumer lag, per entity asset.

A sensor only looks; the ingestion asset decides what is new (batch ids in the Iceberg commits), so a sensor that
fires twice for the same file costs a run that adds nothing, never a duplicate. The landing sensor's cursor is a
watermark — the latest arrival time it has seen and the names that arrived at that very time — so it stays the
same size however many files landing has held. A file that arrives with a time before the watermark (an object
store's clock behind, a copy that kept an old time and changed no ctime) does not trigger a run by itself; the
next run of its asset (another file, the daily build) still ingests it, because that run reads the whole folder. For an asset in daily partitions
the new files ask for a run of each day they deliver (files without a day in their name: today's), the Kafka lag
for a run of today's partition.
"""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

import dagster as dg

from safecity.ingestion.landing import delivery_day
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.streams import StreamIngestor
from safecity.orchestration.defs.partitions import FIRST_DAY, day_key, local_day
from safecity.orchestration.resources import IcebergCatalogResource, KafkaResource, LandingResource, step_settings
from safecity.standards.catalogue import load_catalogue

# Kafka records waiting before a stream triggers a run between the five-minute ticks.
LAG_THRESHOLD = 10_000


def _fingerprint(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Watermark:
    """The landing sensor's cursor: the latest arrival seen, and the names that arrived at exactly that time."""
    at: float = float("-inf")
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, cursor: str | None) -> "Watermark":
        if not cursor:
            return cls()
        value = json.loads(cursor)
        if isinstance(value, list):  # the cursor of earlier versions: every name ever seen
            return cls(names=frozenset(value))
        return cls(value["at"], frozenset(value["names"]))

    def new(self, arrivals: dict[str, float]) -> list[str]:
        if self.at == float("-inf"):  # no time yet (an earlier version's cursor): its names are what was seen
            return sorted(n for n in arrivals if n not in self.names)
        return sorted(n for n, at in arrivals.items() if at > self.at or (at == self.at and n not in self.names))

    def after(self, arrivals: dict[str, float]) -> "Watermark":
        top = max([self.at, *arrivals.values()])
        at_top = {n for n, at in arrivals.items() if at == top}
        return Watermark(top, frozenset(at_top | (self.names if top == self.at else set())))

    def serialise(self) -> str:
        return json.dumps({"at": self.at, "names": sorted(self.names)})


def landing_sensor(asset: dg.AssetsDefinition, sources: list[str]) -> dg.SensorDefinition:
    """Requests a run of `asset` when files arrive in the landing folders of its sources."""

    @dg.sensor(name=f"{asset.node_def.name}_new_files", asset_selection=dg.AssetSelection.assets(asset),
               minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
               description="落地区有新文件时接入 / Ingest when new files arrive in landing")
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        catalogue = load_catalogue(landing.safecity.settings().city.id)
        area = landing.open()
        arrivals: dict[str, float] = {}
        for source in sources:
            mapping = load_mapping(mapping_path(source), catalogue).mapping
            if mapping.landing is not None:
                arrivals |= area.arrivals(mapping.landing, mapping.pattern)
        watermark = Watermark.parse(context.cursor)
        new = watermark.new(arrivals)
        if not new:
            return dg.SkipReason(f"no new files in landing for {', '.join(sources)}")
        context.update_cursor(watermark.after(arrivals).serialise())
        if asset.partitions_def is None:
            return dg.RunRequest(run_key=f"files-{_fingerprint(new)}", tags={"safecity/new_files": str(len(new))})
        grouped = files_by_day(new)
        valid = set(asset.partitions_def.get_partition_keys())
        # A day outside the partitions (before the first, after today) has no run to ask for: it is said, not lost
        # (`safecity ingest SOURCE FILE` takes such a file by hand).
        for day in sorted(set(grouped) - valid):
            context.log.warning("%d new file(s) delivered on %s, outside the daily partitions (%s): %s",
                                len(grouped[day]), day, FIRST_DAY, ", ".join(grouped[day][:5]))
        return [dg.RunRequest(run_key=f"files-{day}-{_fingerprint(files)}", partition_key=day,
                              tags={"safecity/new_files": str(len(files))})
                for day, files in sorted(grouped.items()) if day in valid]

    return _sensor


def lag_sensor(asset: dg.AssetsDefinition, sources: list[str]) -> dg.SensorDefinition:
    """Requests a run of `asset` when its Kafka topics hold more than LAG_THRESHOLD records not yet in bronze."""

    @dg.sensor(name=f"{asset.node_def.name}_kafka_lag", asset_selection=dg.AssetSelection.assets(asset),
               minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Kafka 积压超过门限时接入 / Ingest when the Kafka backlog passes the threshold")
    def _sensor(context: dg.SensorEvaluationContext, catalog: IcebergCatalogResource, kafka: KafkaResource):
        settings = step_settings(catalog, kafka)
        if settings.environment.kafka is None:
            return dg.SkipReason("the environment profile has no Kafka")
        catalogue = load_catalogue(settings.city.id)
        bootstrap = settings.secret("/kafka/bootstrap_servers_env")
        catalog = catalog.open()
        lag = 0
        for source in sources:
            loaded = load_mapping(mapping_path(source), catalogue)
            if loaded.mapping.topic:
                lag += sum(StreamIngestor(catalog, catalogue, loaded, bootstrap).lag().values())
        if lag < LAG_THRESHOLD:
            return dg.SkipReason(f"Kafka lag {lag} below {LAG_THRESHOLD}")
        today = local_day(dt.datetime.now(dt.timezone.utc)) if asset.partitions_def is not None else None
        return dg.RunRequest(run_key=None, partition_key=today, tags={"safecity/kafka_lag": str(lag)})

    return _sensor


def files_by_day(names: list[str]) -> dict[str, list[str]]:
    """Partition key → the new files it delivers; a file without a day in its name goes to today's partition."""
    today = local_day(dt.datetime.now(dt.timezone.utc))
    grouped = defaultdict(list)
    for name in names:
        day = delivery_day(name)
        grouped[day_key(day) if day else today].append(name)
    return dict(grouped)
