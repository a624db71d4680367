"""Camera state machine: each camera's state (online, degraded, offline, never_streamed, decommissioned) over time,
from GB/T 28181 keepalives and status messages, the catalog, and the latest video quality diagnosis.

Rules (GB/T 28181 practice):
- A device is offline once `misses` (3) consecutive keepalives are missing: at the last one heard plus three
  intervals. One or two missed keepalives do not flip it (hysteresis). A Status OFF message flips it at once; the
  next keepalive (or Status ON) brings it back.
- A recording device (DVR/NVR, type code 111/118 in positions 11-13 of the ID) that is offline takes the channels
  it records (catalog ParentID) with it, whatever their own keepalives say: their pictures go through it.
- Online but the latest diagnosed snapshot has a defect: degraded, with the defect as the reason.
- In the catalog but never heard from: never_streamed. Known before (`previous` current-state table) but gone from
  the catalog: decommissioned.
- No keepalive feed at all (a registry export with its own online status, nothing heard from any device): the
  registry's status is the evidence, ON online and OFF offline (reason registry_status), instead of every camera
  being never_streamed.

Everything is one DuckDB statement per step over the whole city's heartbeats (no Python loop over devices): offline
intervals from gaps between keepalives, intervals merged per device (gaps and islands), then a timeline of events
whose running state gives the changes. It runs on whatever relations the connection names as its inputs: Arrow tables
(camera_states) or views over silver on the warehouse connection (stage_silver_inputs, for analytics.camera_health).
"""
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

RECORDER_TYPES = ("111", "118")     # GB/T 28181-2016 附录D: DVR, NVR
STATES = {
    "online": ("在线正常", "Online"),
    "degraded": ("在线但画面异常", "Online but degraded"),
    "offline": ("离线", "Offline"),
    "never_streamed": ("从未出流", "Never streamed"),
    "decommissioned": ("已撤除", "Decommissioned"),
}
REASONS = {
    "keepalive_timeout": ("连续3次心跳未收到", "3 keepalives missed"),
    "status_off": ("设备上报离线", "device reported OFF"),
    "parent_offline": ("所属录像设备离线", "recording device (NVR/DVR) offline"),
    "keepalive_resumed": ("心跳恢复", "keepalives resumed"),
    "first_keepalive": ("首次收到心跳", "first keepalive"),
    "picture_ok": ("画面恢复正常", "picture healthy again"),
    "no_keepalive": ("从未收到心跳", "no keepalive ever"),
    "removed_from_catalog": ("已从目录删除", "removed from the catalog"),
    "registry_on": ("台账状态为在线（无心跳数据）", "registry status online (no keepalive feed)"),
    "registry_off": ("台账状态为离线（无心跳数据）", "registry status offline (no keepalive feed)"),
}
# Registry status values that mean online (GB/T 28181 Status ON, DeviceStatus Online ONLINE, vendor OK).
REGISTRY_ONLINE = ("ON", "ONLINE", "OK")
# The device_fault_type code (standards/codes) a reason reports as; VQD defects report as themselves.
FAULT_TYPES = {"keepalive_timeout": "offline", "status_off": "offline", "parent_offline": "offline",
               "no_keepalive": "never_streamed", "registry_off": "offline"}


@dataclass(frozen=True)
class CameraStates:
    changes: pa.Table       # device_id, changed_at, from_state, to_state, reason (+ Chinese names)
    current: pa.Table       # device_id, parent_id, is_recorder, state, reason, fault_type, since, last_evidence


def read_heartbeats(paths: list[str | Path] | str | Path) -> pa.Table:
    """Keepalive and Status messages (JSON lines: CmdType, DeviceID, Status, Time) as a table."""
    files = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    con = duckdb.connect()
    return con.execute(
        "SELECT CmdType, DeviceID, Status, CAST(Time AS TIMESTAMP) AS Time FROM read_json(?, format = 'newline_delimited', "
        "columns = {CmdType: 'VARCHAR', DeviceID: 'VARCHAR', Status: 'VARCHAR', Time: 'VARCHAR'})",
        [files]).to_arrow_table()


def read_catalog(path: str | Path) -> pa.Table:
    """DeviceID, ParentID, Status of a GB/T 28181 catalog export (JSON with a DeviceList)."""
    con = duckdb.connect()
    return con.execute(
        "SELECT d.DeviceID, NULLIF(d.ParentID, '') AS ParentID, d.Status "
        "FROM (SELECT unnest(DeviceList) AS d FROM read_json(?, columns = "
        "{DeviceList: 'STRUCT(DeviceID VARCHAR, ParentID VARCHAR, Status VARCHAR)[]'}))",
        [str(path)]).to_arrow_table()


def _names_table(defect_names: dict[str, tuple[str, str]]) -> pa.Table:
    rows = [(k, "state", zh, en) for k, (zh, en) in STATES.items()]
    rows += [(k, "reason", zh, en) for k, (zh, en) in REASONS.items()]
    rows += [(k, "reason", f"画面异常：{zh}", f"picture defect: {en}") for k, (zh, en) in defect_names.items()]
    rows += [(k, "fault", v, v) for k, v in FAULT_TYPES.items()]
    return pa.table({"code": [r[0] for r in rows], "kind": [r[1] for r in rows], "name_zh": [r[2] for r in rows],
                     "name_en": [r[3] for r in rows]})


def camera_states(heartbeats: pa.Table, catalog: pa.Table, vqd: pa.Table | None = None, *,
                  as_of: dt.datetime | None = None, interval_seconds: int = 60, misses: int = 3,
                  previous: pa.Table | None = None,
                  defect_names: dict[str, tuple[str, str]] | None = None) -> CameraStates:
    """State changes and current states of every device in the catalog (and any heard from outside it).

    heartbeats: CmdType, DeviceID, Status, Time (read_heartbeats). catalog: DeviceID, ParentID (read_catalog).
    vqd: device_id, captured_at, defect (the batch diagnosis table; one row per file is enough). as_of: the end of
    the evidence (default: the last heartbeat). interval_seconds: the keepalive interval (60 s in GB/T 28181
    practice; a summarised feed uses its summary step). previous: an earlier `current` table, for decommissioning.
    defect_names: {defect code: (Chinese, English)} for the reasons of degraded cameras (the vqd_item code table)."""
    con = duckdb.connect()
    con.register("heartbeats_in", heartbeats)
    con.register("catalog_in", catalog)
    if vqd is None:
        vqd = pa.table({"device_id": pa.array([], pa.string()), "captured_at": pa.array([], pa.timestamp("s")),
                        "defect": pa.array([], pa.string())})
    con.register("vqd_in", vqd.select(["device_id", "captured_at", "defect"]))
    if previous is not None:
        con.register("previous_in", previous.select(["device_id", "state"]))
    return derive_states(con, as_of=as_of, interval_seconds=interval_seconds, misses=misses,
                         has_previous=previous is not None, defect_names=defect_names)


def derive_states(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None, interval_seconds: int = 60,
                  misses: int = 3, has_previous: bool = False,
                  defect_names: dict[str, tuple[str, str]] | None = None) -> CameraStates:
    """The state machine over the relations `heartbeats_in`, `catalog_in`, `vqd_in` (and `previous_in` when
    `has_previous`) of `con`, whatever they are: Arrow tables registered by camera_states, or views over silver on
    the warehouse connection (stage_silver_inputs), so the whole derivation is one pass in one engine. Leaves the
    temporary tables `state_changes` and `state_current` on `con` for what is derived from them (camera_events)."""
    con.register("names", _names_table(defect_names or {}))
    if as_of is None:
        as_of = heartbeats_end(con) or dt.datetime.now()
    gap = dt.timedelta(seconds=interval_seconds * misses)
    con.execute("CREATE OR REPLACE TEMP TABLE params AS SELECT ?::TIMESTAMP AS as_of, ?::INTERVAL AS gap", [as_of, gap])
    _offline_intervals(con)
    _timeline(con)
    _changes(con, has_previous)
    _current(con)
    return CameraStates(con.execute("FROM state_changes").to_arrow_table(),
                        con.execute("FROM state_current").to_arrow_table())


def _offline_intervals(con) -> None:
    """Offline intervals per device: own silences and Status OFF, a recorder's passed to its channels, merged."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE hb AS
      SELECT DeviceID AS device_id, CAST(Time AS TIMESTAMP) AS t, CmdType AS cmd, upper(Status) AS status
      FROM heartbeats_in, params WHERE CAST(Time AS TIMESTAMP) <= as_of;
    CREATE OR REPLACE TEMP TABLE alive AS
      SELECT device_id, t FROM hb WHERE cmd = 'Keepalive' OR (cmd = 'Status' AND status IN ('ON', 'OK'));
    CREATE OR REPLACE TEMP TABLE devices AS
      SELECT DeviceID AS device_id, any_value(NULLIF(ParentID, '')) AS parent_id,
             any_value(upper(trim(Status))) AS registry_status FROM catalog_in GROUP BY ALL;
    -- Own offline intervals: silence longer than `gap` after a keepalive (open while nothing follows), and Status OFF
    -- until the next sign of life.
    CREATE OR REPLACE TEMP TABLE own AS
      SELECT device_id, t + gap AS s, nxt AS e, 'keepalive_timeout' AS reason, 2 AS prio
      FROM (SELECT device_id, t, lead(t) OVER (PARTITION BY device_id ORDER BY t) AS nxt FROM alive), params
      WHERE coalesce(nxt, as_of) - t > gap
      UNION ALL
      SELECT o.device_id, o.t, a.t, 'status_off', 1
      FROM (SELECT device_id, t FROM hb WHERE cmd = 'Status' AND status = 'OFF') o
      ASOF LEFT JOIN alive a ON o.device_id = a.device_id AND a.t > o.t;
    -- A recorder's own intervals are its channels' too.
    CREATE OR REPLACE TEMP TABLE intervals AS
      SELECT * FROM own
      UNION ALL
      SELECT d.device_id, o.s, o.e, 'parent_offline', 0
      FROM own o JOIN devices d ON d.parent_id = o.device_id
      WHERE substr(o.device_id, 11, 3) IN {RECORDER_TYPES};
    -- Overlapping intervals merged per device; the island's reason is that of its first interval.
    CREATE OR REPLACE TEMP TABLE offline AS
      WITH iv AS (SELECT device_id, s, coalesce(e, as_of + INTERVAL 36500 DAY) AS e, reason, prio FROM intervals, params),
      marked AS (SELECT *, max(e) OVER (PARTITION BY device_id ORDER BY s, prio
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM iv),
      islands AS (SELECT *, sum(CASE WHEN before IS NULL OR s > before THEN 1 ELSE 0 END)
                              OVER (PARTITION BY device_id ORDER BY s, prio ROWS UNBOUNDED PRECEDING) AS island
                  FROM marked)
      SELECT device_id, min(s) AS s, max(e) AS e, arg_min(reason, prio + epoch(s) * 10) AS reason
      FROM islands GROUP BY device_id, island;
    """)


def _timeline(con) -> None:
    """Every event that can change a state, with the running state after it."""
    con.execute("""
    -- Every event that can change a state, in time order; at one instant: first < offline < online < picture.
    CREATE OR REPLACE TEMP TABLE events AS
      SELECT device_id, min(t) AS t, 0 AS k, 'first' AS kind, 'first_keepalive' AS reason, NULL AS defect
      FROM alive GROUP BY device_id
      UNION ALL SELECT device_id, s, 1, 'offline', reason, NULL FROM offline
      UNION ALL SELECT device_id, e, 2, 'online', 'keepalive_resumed', NULL FROM offline, params WHERE e <= as_of
      UNION ALL SELECT DISTINCT device_id, CAST(captured_at AS TIMESTAMP), 3, 'picture', NULL, coalesce(defect, '')
      FROM vqd_in, params WHERE device_id IS NOT NULL AND captured_at IS NOT NULL AND captured_at <= as_of;
    CREATE OR REPLACE TEMP TABLE timeline AS
      WITH running AS (
        SELECT *,
          last_value(CASE kind WHEN 'offline' THEN 1 WHEN 'online' THEN 0 END IGNORE NULLS) OVER w AS down,
          last_value(CASE WHEN kind = 'offline' THEN reason END IGNORE NULLS) OVER w AS down_reason,
          last_value(CASE WHEN kind = 'picture' THEN defect END IGNORE NULLS) OVER w AS picture
        FROM events WINDOW w AS (PARTITION BY device_id ORDER BY t, k ROWS UNBOUNDED PRECEDING)),
      stated AS (
        SELECT device_id, t, kind,
          CASE WHEN down = 1 THEN 'offline' WHEN coalesce(picture, '') <> '' THEN 'degraded' ELSE 'online' END AS state,
          CASE WHEN down = 1 THEN down_reason WHEN coalesce(picture, '') <> '' THEN picture
               WHEN kind = 'picture' THEN 'picture_ok' WHEN kind = 'online' THEN 'keepalive_resumed'
               ELSE 'first_keepalive' END AS reason
        FROM running)
      SELECT *, lag(state, 1, 'never_streamed') OVER (PARTITION BY device_id ORDER BY t, CASE kind WHEN 'first' THEN 0
                WHEN 'offline' THEN 1 WHEN 'online' THEN 2 ELSE 3 END) AS from_state,
                lag(reason) OVER (PARTITION BY device_id ORDER BY t, CASE kind WHEN 'first' THEN 0
                WHEN 'offline' THEN 1 WHEN 'online' THEN 2 ELSE 3 END) AS from_reason
      FROM stated;
    """)


def _changes(con, has_previous: bool) -> None:
    """State changes (with names), decommissioning included, into `state_changes`."""
    previous_sql = "SELECT device_id FROM previous_in WHERE state <> 'decommissioned'" if has_previous else \
        "SELECT NULL::VARCHAR AS device_id WHERE false"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE decommissioned AS
      SELECT p.device_id FROM ({previous_sql}) p ANTI JOIN devices d USING (device_id);
    CREATE OR REPLACE TEMP TABLE changes AS
      SELECT device_id, t AS changed_at, from_state, state AS to_state, reason FROM timeline
      WHERE state <> from_state OR (state = 'degraded' AND reason IS DISTINCT FROM from_reason)
      UNION ALL
      SELECT device_id, as_of, 'unknown', 'decommissioned', 'removed_from_catalog' FROM decommissioned, params;
    """)
    con.execute("""
      CREATE OR REPLACE TEMP TABLE state_changes AS
      SELECT c.device_id, c.changed_at, c.from_state, fs.name_zh AS from_state_zh, c.to_state, ts.name_zh AS to_state_zh,
             c.reason, r.name_zh AS reason_zh, r.name_en AS reason_en
      FROM changes c
      LEFT JOIN names fs ON fs.kind = 'state' AND fs.code = c.from_state
      LEFT JOIN names ts ON ts.kind = 'state' AND ts.code = c.to_state
      LEFT JOIN names r ON r.kind = 'reason' AND r.code = c.reason
      ORDER BY c.device_id, c.changed_at, c.to_state""")


def _current(con) -> None:
    """Each device's current state, reason, fault type, since and last evidence, into `state_current`."""
    con.execute(f"""
      CREATE OR REPLACE TEMP TABLE state_current AS
      WITH everyone AS (
        SELECT device_id FROM devices UNION SELECT device_id FROM hb UNION SELECT device_id FROM decommissioned),
      fallback AS (
        -- Without any keepalive feed, a device never heard from has its registry status; with one, never_streamed.
        SELECT device_id,
               CASE WHEN NOT EXISTS (SELECT 1 FROM hb) AND registry_status IS NOT NULL THEN
                    CASE WHEN registry_status IN {REGISTRY_ONLINE} THEN 'online' ELSE 'offline' END END AS state,
               CASE WHEN NOT EXISTS (SELECT 1 FROM hb) AND registry_status IS NOT NULL THEN
                    CASE WHEN registry_status IN {REGISTRY_ONLINE} THEN 'registry_on' ELSE 'registry_off' END END
                    AS reason
        FROM devices),
      last_change AS (
        SELECT device_id, arg_max(to_state, changed_at) AS state, arg_max(reason, changed_at) AS reason,
               max(changed_at) AS since
        FROM changes GROUP BY device_id
        UNION ALL SELECT device_id, state, reason, NULL FROM fallback
        WHERE state IS NOT NULL AND device_id NOT IN (SELECT device_id FROM changes)),
      evidence AS (
        SELECT device_id, max(t) AS last_evidence FROM (
          SELECT device_id, t FROM hb UNION ALL
          SELECT device_id, CAST(captured_at AS TIMESTAMP) FROM vqd_in, params WHERE captured_at <= as_of)
        GROUP BY device_id)
      SELECT e.device_id, d.parent_id, substr(e.device_id, 11, 3) IN {RECORDER_TYPES} AS is_recorder,
             coalesce(l.state, 'never_streamed') AS state, s.name_zh AS state_zh, s.name_en AS state_en,
             coalesce(l.reason, 'no_keepalive') AS reason, r.name_zh AS reason_zh, r.name_en AS reason_en,
             CASE WHEN coalesce(l.state, 'never_streamed') IN ('online', 'decommissioned') THEN NULL
                  ELSE coalesce(f.name_zh, coalesce(l.reason, 'no_keepalive')) END AS fault_type,
             l.since, v.last_evidence, p.as_of
      FROM everyone e CROSS JOIN params p
      LEFT JOIN devices d USING (device_id)
      LEFT JOIN last_change l USING (device_id)
      LEFT JOIN evidence v USING (device_id)
      LEFT JOIN names s ON s.kind = 'state' AND s.code = coalesce(l.state, 'never_streamed')
      LEFT JOIN names r ON r.kind = 'reason' AND r.code = coalesce(l.reason, 'no_keepalive')
      LEFT JOIN names f ON f.kind = 'fault' AND f.code = coalesce(l.reason, 'no_keepalive')
      ORDER BY e.device_id""")


@dataclass(frozen=True)
class SilverFeed:
    keepalive_seconds: int      # the feed's keepalive spacing (median gap), 60 if unknown
    has_previous: bool          # silver.camera_state exists (for decommissioning)


def stage_silver_inputs(con: duckdb.DuckDBPyConnection, timezone: str) -> SilverFeed:
    """The state machine's inputs as temporary views over the silver views on `con`: `heartbeats_in`
    (device_status, in the city's local time), `catalog_in` and `registry_in` (the registry's latest version per
    device), `vqd_in` (snapshot_diagnosis, empty before the first diagnosis) and `previous_in` (camera_state)."""
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = 'silver'").fetchall()}
    stage_heartbeats(con, timezone)
    stage_registry(con, present)
    if "camera_state" in present:
        # Materialised: the step replaces silver.camera_state afterwards.
        con.execute("CREATE OR REPLACE TEMP TABLE previous_in AS SELECT device_id, state FROM silver.camera_state")
    return SilverFeed(keepalive_spacing(con, present), "camera_state" in present)


def stage_heartbeats(con: duckdb.DuckDBPyConnection, timezone: str) -> None:
    """`heartbeats_in`: silver.device_status as the state machine reads it, in the city's local time."""
    zone = timezone.replace("'", "''")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW heartbeats_in AS
          SELECT cmd_type AS CmdType, device_id AS DeviceID, status AS Status, timezone('{zone}', reported_at) AS Time
          FROM silver.device_status""")


def heartbeats_end(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The last message of `heartbeats_in`: the state machine's as_of unless it is given one."""
    return con.execute("SELECT max(CAST(Time AS TIMESTAMP)) FROM heartbeats_in").fetchone()[0]


def keepalive_spacing(con: duckdb.DuckDBPyConnection, present: set[str]) -> int:
    """The keepalive interval of the feed in silver: the median spacing of a device's keepalives, 60 s if none."""
    if "device_status" not in present:
        return 60
    gap = con.execute("""
        SELECT median(gap) FROM (
          SELECT epoch(reported_at - lag(reported_at) OVER (PARTITION BY device_id ORDER BY reported_at)) AS gap
          FROM silver.device_status WHERE cmd_type = 'Keepalive') WHERE gap > 0""").fetchone()[0]
    return int(round(gap)) if gap else 60


def stage_registry(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """`registry_in` (the registry's latest version per device), `catalog_in` over it, and `vqd_in` (the valid
    snapshot diagnoses, empty before the first) from the silver views on `con`: the batch step's inputs and the
    stream watcher's (camera_stream), which brings its own heartbeats."""
    # Registries keep every version: the latest per device is the registry now.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE registry_in AS
          SELECT device_id, arg_max(parent_id, _ingested_at) AS parent_id, arg_max(status, _ingested_at) AS status,
                 arg_max(longitude, _ingested_at) AS longitude, arg_max(latitude, _ingested_at) AS latitude,
                 arg_max(use_type, _ingested_at) AS use_type, arg_max(position_type, _ingested_at) AS position_type
          FROM silver.camera GROUP BY device_id;
        CREATE OR REPLACE TEMP VIEW catalog_in AS
          SELECT device_id AS DeviceID, parent_id AS ParentID, status AS Status FROM registry_in""")
    vqd = ("SELECT device_id, captured_at, any_value(defect) AS defect FROM silver.snapshot_diagnosis "
           "WHERE error IS NULL GROUP BY ALL") if "snapshot_diagnosis" in present else \
        "SELECT NULL::VARCHAR AS device_id, NULL::TIMESTAMP AS captured_at, NULL::VARCHAR AS defect WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW vqd_in AS {vqd}")
