"""The camera state machine on the keepalive stream (摄像机状态机·流式): `safecity cameras watch`.

Consumes the GB/T 28181 device-status topic (keepalives and Status ON/OFF, as the video platform forwards them),
keeps every message received, and at each tick of event time runs THE batch state machine (camera_state.derive_states
and camera_events.health_events, one implementation) over the evidence so far, with the tick as its `as_of`. What
the tick derives that was not yet published goes to the output topic as JSON events, as rules.streaming publishes
them, so `rules route` / `rules serve` take them:
- camera_health state changes (`camera_state_change:<device>:<epoch>`): once each, ordered by (ts, id).
- camera_health stays (`camera_state:<device>:<epoch since>`, a camera's current state with its minutes offline at
  the tick): when a stay is new, again when its minutes offline have grown by `refresh_minutes` (the repair-deadline
  table reads them), and at the stop flush when they differ from what was last published. Same id each time.
- camera_down facts (`camera_down:<device>:<epoch since>`): asserted when a camera is down, retracted
  (`"op": "retract"`, same id) when it no longer is, so the engine holds exactly the cameras down now.

Ticks: the tick is a multiple of `tick_seconds` (default the keepalive interval) of local time; the tick at B runs
once every partition has passed B (each partition of the topic is in time order; the watermark is the least latest
time over partitions), so every message at or before B is in. On stop, a last tick runs at the latest evidence
received: the data clock, as the batch step's `as_of`.

Restart: the state machine needs each camera's history, so the input is read again from the start of the topic at
every start (its retention bounds the history); what was published (change ids, each camera's current stay and the
minutes last published, the facts asserted, the last tick) is a small JSON checkpoint written after the producer has
acknowledged a tick's events. Messages up to the checkpoint's tick are taken in without ticking; ticking resumes
after it. A crash between the acknowledgement and the checkpoint re-publishes that tick's events under the same ids:
the rule outbox drops the repeated idempotency keys and the engine ignores a fact it already holds.

The registry (catalog: parent, position and point level) and the snapshot diagnoses are read once at start from the
home's silver tables (the batch step's `registry_in` / `vqd_in`); decommissioning is left to the batch step, which
compares against its previous run.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from safecity.analytics.camera_events import health_events
from safecity.analytics.camera_state import derive_states
from safecity.config.profiles import CityProfile

log = logging.getLogger(__name__)
STATUS_TOPIC = "gb28181.device_status"
OUT_TOPIC = "safecity.events.live"
STAY_PREFIX, CHANGE_PREFIX = "camera_state:", "camera_state_change:"


class MessageError(ValueError):
    """A device-status message the watcher cannot read (the field is named)."""


def parse_message(raw: bytes | str, zone: ZoneInfo) -> tuple[str, str, str | None, dt.datetime]:
    """(CmdType, DeviceID, Status, Time as local time without zone) of one raw message. GB/T 28181 writes local time
    without a zone; a time with an offset is converted to the city's zone."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"not JSON / 非JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MessageError("not a JSON object / 不是JSON对象")
    for name in ("CmdType", "DeviceID", "Time"):
        if not isinstance(message.get(name), str) or not message[name]:
            raise MessageError(f"field {name} missing or not text / 字段 {name} 缺失或非文本")
    try:
        moment = dt.datetime.fromisoformat(message["Time"])
    except ValueError:
        raise MessageError(f"field Time is not an ISO time / 字段 Time 不是ISO时间: {message['Time']!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone).replace(tzinfo=None)
    status = message.get("Status")
    return message["CmdType"], message["DeviceID"], None if status is None else str(status), moment


@dataclass
class Published:
    """What the watcher has published: the checkpoint."""

    last_tick: dt.datetime | None = None
    changes: set[str] = field(default_factory=set)
    stays: dict[str, dict[str, Any]] = field(default_factory=dict)  # device -> {key, status, reason_code, minutes}
    down: dict[str, dict[str, Any]] = field(default_factory=dict)   # fact id -> the fact as asserted

    def save(self, path: Path) -> None:
        text = json.dumps({"last_tick": self.last_tick.isoformat() if self.last_tick else None,
                           "changes": sorted(self.changes), "stays": self.stays, "down": self.down},
                          ensure_ascii=False)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)  # a crash leaves the old checkpoint or the new one, never half of one

    @classmethod
    def load(cls, path: Path) -> "Published":
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tick = data["last_tick"]
            return cls(dt.datetime.fromisoformat(tick) if tick else None, set(data["changes"]), dict(data["stays"]),
                       dict(data["down"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable watcher checkpoint / 检查点无法读取: {exc!r}") from None


def unpublished(published: Published, changes: list[dict], stays: list[tuple[str, dict]], down: list[dict], *,
                refresh_minutes: int, final: bool) -> list[dict]:
    """The events of one tick not yet published, in publishing order (changes, retractions, new facts, stays; each
    by (ts, id)), and `published` updated to include them. `stays` pairs each stay event with its key (its id, or
    for a camera without a `since` its device and state: such an id is the tick's and would change every tick)."""
    out = sorted((e for e in changes if e["id"] not in published.changes), key=lambda e: (e["ts"], e["id"]))
    published.changes.update(e["id"] for e in out)
    now_down = {e["id"]: e for e in down}
    for fact_id in sorted(set(published.down) - set(now_down)):
        out.append({**published.down.pop(fact_id), "op": "retract"})
    for fact_id in sorted(set(now_down) - set(published.down)):
        published.down[fact_id] = now_down[fact_id]
        out.append(now_down[fact_id])
    for key, event in sorted(stays, key=lambda pair: (pair[1]["ts"], pair[1]["id"])):
        minutes = event.get("offline_minutes") or 0
        last = published.stays.get(event["camera_id"])
        if last is not None and last["key"] == key and last["status"] == event["status"] \
                and last["reason_code"] == event.get("reason_code") \
                and minutes < last["minutes"] + refresh_minutes and not (final and minutes != last["minutes"]):
            continue
        published.stays[event["camera_id"]] = {"key": key, "status": event["status"],
                                               "reason_code": event.get("reason_code"), "minutes": minutes}
        out.append(event)
    return out


@dataclass(frozen=True)
class Tick:
    as_of: dt.datetime
    events: list[dict]
    by_state: dict[str, int]    # cameras per state at the tick
    seconds: float              # the state machine's run (derive_states + health_events)
    messages: int               # evidence held


def _plain(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, dt.datetime):
        return (value.astimezone(zone) if value.tzinfo else value).isoformat()
    return value


def _events(table: pa.Table, event_type: str, zone: ZoneInfo) -> list[dict]:
    """Rows of health_events as engine events: {"type", "id": `_batch_id:_line`, fields without nulls}, as
    rules.events reads them from silver."""
    events = []
    for row in table.to_pylist():
        event_id = f"{row.pop('_batch_id')}:{row.pop('_line')}"
        events.append({"type": event_type, "id": event_id,
                       **{k: _plain(v, zone) for k, v in row.items() if v is not None}})
    return events


class CameraWatch:
    """The evidence received and the ticks over it; `con` holds `registry_in`, `catalog_in` and `vqd_in`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, city: CityProfile, published: Published, *,
                 interval_seconds: int, tick_seconds: int | None = None, misses: int = 3, refresh_minutes: int = 30,
                 defect_names: Mapping[str, tuple[str, str]] | None = None):
        self.con, self.city, self.published = con, city, published
        self.zone = ZoneInfo(city.timezone)
        self.interval, self.misses, self.refresh = interval_seconds, misses, refresh_minutes
        self.tick_seconds = tick_seconds or interval_seconds
        self.defects = dict(defect_names or {})
        self.columns: dict[str, list] = {"CmdType": [], "DeviceID": [], "Status": [], "Time": []}
        self.first: dt.datetime | None = None
        self.latest: dt.datetime | None = None

    def add(self, cmd: str, device: str, status: str | None, moment: dt.datetime) -> None:
        for name, value in zip(self.columns, (cmd, device, status, moment)):
            self.columns[name].append(value)
        self.first = moment if self.first is None else min(self.first, moment)
        self.latest = moment if self.latest is None else max(self.latest, moment)

    def due(self, watermark: dt.datetime) -> list[dt.datetime]:
        """The ticks before `watermark` not yet run: multiples of tick_seconds after the last tick (or from the
        first evidence)."""
        if self.first is None:
            return []
        step = dt.timedelta(seconds=self.tick_seconds)
        lower = self.published.last_tick
        origin = dt.datetime(2000, 1, 1)
        moment = origin + step * ((((lower or self.first) - origin) // step))
        while (lower is not None and moment <= lower) or moment < self.first:
            moment += step
        ticks = []
        while moment < watermark:
            ticks.append(moment)
            moment += step
        return ticks

    def tick(self, as_of: dt.datetime, final: bool = False) -> Tick:
        """Run the state machine over the evidence at `as_of`; the events not yet published."""
        started = time.perf_counter()
        heartbeats = pa.table({"CmdType": pa.array(self.columns["CmdType"], pa.string()),
                               "DeviceID": pa.array(self.columns["DeviceID"], pa.string()),
                               "Status": pa.array(self.columns["Status"], pa.string()),
                               "Time": pa.array(self.columns["Time"], pa.timestamp("us"))})
        self.con.register("stream_heartbeats", heartbeats)
        self.con.execute("CREATE OR REPLACE TEMP VIEW heartbeats_in AS SELECT * FROM stream_heartbeats")
        derive_states(self.con, as_of=as_of, interval_seconds=self.interval, misses=self.misses,
                      has_previous=False, defect_names=self.defects)
        # No outage causes here (null, network_caused false): the network's state is derived only by the batch step,
        # from telemetry exports, so silver's link and node states end at the last batch run; an outage that began
        # since (the open ones, which the repair-deadline policy acts on) would find no failed element above it and be
        # called the device's own. Unknown is the honest answer; the policy then treats it as before issue 21.
        derived = health_events(self.con, self.city)
        seconds = time.perf_counter() - started
        health = _events(derived["camera_health"], "camera_health", self.zone)
        no_since = {r[0]: r[1] for r in self.con.execute(
            "SELECT device_id, state FROM state_current WHERE since IS NULL").fetchall()}
        changes = [e for e in health if e["id"].startswith(CHANGE_PREFIX)]
        stays = [(f"{STAY_PREFIX}{e['camera_id']}:since-unknown:{e['status']}" if e["camera_id"] in no_since
                  else e["id"], e) for e in health if e["id"].startswith(STAY_PREFIX)]
        events = unpublished(self.published, changes, stays, _events(derived["camera_down"], "camera_down", self.zone),
                             refresh_minutes=self.refresh, final=final)
        self.published.last_tick = as_of
        by_state = dict(self.con.execute("SELECT state, count(*) FROM state_current GROUP BY ALL").fetchall())
        return Tick(as_of, events, by_state, seconds, len(self.columns["Time"]))

    def finish(self) -> Tick | None:
        """The stop flush: a last tick at the latest evidence, if it is after the last tick."""
        if self.latest is None or (self.published.last_tick is not None and self.latest <= self.published.last_tick):
            return None
        return self.tick(self.latest, final=True)


def stage_home_inputs(settings) -> tuple[pa.Table, pa.Table, int]:
    """The registry (`registry_in`), the snapshot diagnoses (`vqd_in`) and the keepalive interval of the home's
    silver, read once through a short warehouse connection (the main job writes the warehouse too)."""
    from safecity.analytics.camera_state import keepalive_spacing, stage_registry
    from safecity.lakehouse.catalog import open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect

    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver",))
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'silver'").fetchall()}
        if "camera" not in present:
            raise ValueError(f"{settings.paths.home}: no silver.camera (the registry) in this home / 本地仓库中没有"
                             f"摄像机台账 silver.camera: run the main job first")
        stage_registry(con, present)
        return (con.execute("FROM registry_in").to_arrow_table(), con.execute("FROM vqd_in").to_arrow_table(),
                keepalive_spacing(con, present))


def memory_inputs(settings, registry: pa.Table, vqd: pa.Table) -> duckdb.DuckDBPyConnection:
    """A scratch connection holding the registry and diagnoses as the state machine's inputs."""
    from safecity.lakehouse.warehouse import connect

    con = connect(settings, ":memory:")
    con.register("registry_src", registry)
    con.register("vqd_src", vqd)
    con.execute("""
        CREATE TEMP TABLE registry_in AS FROM registry_src;
        CREATE TEMP VIEW catalog_in AS SELECT device_id AS DeviceID, parent_id AS ParentID, status AS Status
          FROM registry_in;
        CREATE TEMP TABLE vqd_in AS FROM vqd_src""")
    return con


@dataclass
class WatchSummary:
    messages: int = 0
    unreadable: int = 0
    ticks: int = 0
    published: dict[str, int] = field(default_factory=dict)   # "camera_health" / "camera_down" / "camera_down retract"
    tick_seconds: list[float] = field(default_factory=list)    # the state machine's time per tick
    by_state: dict[str, int] = field(default_factory=dict)     # at the last tick
    last_tick: dt.datetime | None = None

    def count(self, events: Iterable[dict]) -> None:
        for event in events:
            kind = event["type"] + (" retract" if event.get("op") == "retract" else "")
            self.published[kind] = self.published.get(kind, 0) + 1

    def render(self) -> str:
        times = sorted(self.tick_seconds)
        median = times[len(times) // 2] if times else 0.0
        lines = [f"消息 messages: {self.messages:,} (无法读取 unreadable: {self.unreadable:,})",
                 f"节拍 ticks: {self.ticks:,}, 最后节拍 last tick: {self.last_tick or '-'}, 状态机用时 state machine: "
                 f"median {median:.3f}s, max {max(times, default=0.0):.3f}s",
                 "已发布 published: " + (", ".join(f"{k} {v:,}" for k, v in sorted(self.published.items())) or "-"),
                 "最后状态 states at the last tick: " + (", ".join(f"{k} {v:,}" for k, v in
                                                                 sorted(self.by_state.items())) or "-")]
        return "\n".join(lines)


def tick_line(tick: Tick) -> str:
    online = tick.by_state.get("online", 0) + tick.by_state.get("degraded", 0)
    offline = tick.by_state.get("offline", 0)
    return (f"tick {tick.as_of:%Y-%m-%d %H:%M:%S}: 在线 online {online:,}, 离线 offline {offline:,}, "
            f"发布 published {len(tick.events):,} events ({tick.messages:,} messages, {tick.seconds:.3f}s)")


def watch(settings, bootstrap: str, *, topic: str = STATUS_TOPIC, out_topic: str = OUT_TOPIC,
          tick_seconds: int | None = None, keepalive_seconds: int = 0, misses: int = 3, refresh_minutes: int = 30,
          checkpoint: Path | None = None, idle_seconds: float | None = None,
          on_tick: Callable[[Tick], None] | None = None, should_stop: Callable[[], bool] = lambda: False,
          defect_names: Mapping[str, tuple[str, str]] | None = None) -> WatchSummary:
    """Consume `topic` from its start, tick, publish to `out_topic` (keyed by camera_id) until `idle_seconds`
    without a message (None: until `should_stop` or Ctrl-C), then flush at the latest evidence."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    checkpoint = checkpoint or settings.paths.home / "state" / "camera_watch.json"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    registry, vqd, spacing = stage_home_inputs(settings)
    con = memory_inputs(settings, registry, vqd)
    watcher = CameraWatch(con, settings.city, Published.load(checkpoint),
                          interval_seconds=keepalive_seconds or spacing, tick_seconds=tick_seconds, misses=misses,
                          refresh_minutes=refresh_minutes, defect_names=defect_names)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             max_poll_records=2000)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        consumer.close()
        raise ValueError(f"topic {topic} not found on {bootstrap} / 主题不存在")
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    # The partitions holding messages: ticks wait until each has been read past the tick (an empty one is not
    # waited for, or nothing would tick before its first message).
    ends, starts = consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
    waited = {tp.partition for tp in partitions if ends[tp] > starts[tp]}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    summary, latest_in = WatchSummary(), {}

    def run(tick: Tick) -> None:
        for event in tick.events:
            producer.send(out_topic, key=event["camera_id"].encode(),
                          value=json.dumps(event, ensure_ascii=False).encode("utf-8"))
        producer.flush()  # acknowledged before the checkpoint says they were published
        watcher.published.save(checkpoint)
        summary.ticks += 1
        summary.count(tick.events)
        summary.tick_seconds.append(tick.seconds)
        summary.by_state, summary.last_tick = tick.by_state, tick.as_of
        log.info(tick_line(tick))
        if on_tick:
            on_tick(tick)

    last_message = time.monotonic()
    try:
        while not should_stop():
            polled = consumer.poll(timeout_ms=200)
            if not polled:
                if idle_seconds is not None and time.monotonic() - last_message > idle_seconds:
                    break
                continue
            last_message = time.monotonic()
            for tp, records in polled.items():
                for record in records:
                    summary.messages += 1
                    try:
                        cmd, device, status, moment = parse_message(record.value, watcher.zone)
                    except MessageError as exc:
                        summary.unreadable += 1
                        log.warning("%s[%d]@%d: %s", tp.topic, tp.partition, record.offset, exc)
                        continue
                    watcher.add(cmd, device, status, moment)
                    latest_in[tp.partition] = max(latest_in.get(tp.partition, moment), moment)
            # Every partition is in time order: all evidence before the least of their latest times is in.
            if latest_in and waited <= set(latest_in):
                for as_of in watcher.due(min(latest_in.values())):
                    run(watcher.tick(as_of))
    except KeyboardInterrupt:
        log.info("stopping / 停止")
    finally:
        consumer.close()
    try:
        final = watcher.finish()
        if final is not None:
            run(final)
    finally:
        producer.close()
        con.close()
    return summary
