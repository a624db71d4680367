"""Congestion readings of the watched junctions (路口拥堵指数读数) for the command pack's junction_congestion policy,
from the detector flows and the detector registry in silver: one congestion_reading per junction and detector
interval (5 minutes), the reading a live producer gives when the interval ends.

- A detector belongs to the junction of the site's junctions.yaml (config/junctions.py) within whose `approach_m`
  it stands in the registry (its latest row: the nearest junction, should two be in reach); a detector without a
  position, or beyond every junction's reach, reads for no junction.
- Each approach (the detector's road segment) of the junction gets, per interval, the volume-weighted mean speed
  of its detectors' lanes that saw vehicles, graded by the segment's road class with GB/T 33171's thresholds
  (standards/congestion.py: the same expressions the congestion mart grades its hours by). The junction's reading
  is its most congested approach's index (the smallest segment id on a tie), with that segment in `segment_id`: a
  junction is as congested as its worst approach, and an accident blocking one approach is the junction's jam.
- An interval in which no vehicle passed any approach has no speed and so no reading.
- Detectors are not left out by the day's health verdict (the mart does that): the verdict judges a whole day
  after it ended, and a reading is due when its interval ends. The faults that verdict catches do not read as
  jams: a stuck detector reports a steady speed, an all-zero one no speed.

Event ids: `congestion_reading:<junction>` with the interval's epoch seconds as `_line`.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.config.junctions import load_junctions
from safecity.config.profiles import CityProfile
from safecity.standards.catalogue import load_catalogue
from safecity.standards.congestion import congestion_grade_sql, congestion_index_sql

JUNCTION_SCHEMA = pa.schema([("junction_id", pa.string()), ("division_code", pa.string()), ("lon", pa.float64()),
                             ("lat", pa.float64()), ("approach_m", pa.float64())])


def junction_table(city: CityProfile) -> pa.Table:
    junctions = load_junctions(city)
    return pa.table({"junction_id": [j.id for j in junctions], "division_code": [j.division for j in junctions],
                     "lon": [j.lon for j in junctions], "lat": [j.lat for j in junctions],
                     "approach_m": [j.approach_m for j in junctions]}, schema=JUNCTION_SCHEMA)


def congestion_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                      present: frozenset[str] = frozenset()) -> dict[str, pa.Table]:
    catalogue = load_catalogue(city.id)
    index = congestion_index_sql(catalogue, "speed", "road_class")
    grade = congestion_grade_sql(catalogue, "congestion_index")
    con.register("_junctions", junction_table(city))
    try:
        readings = con.execute(f"""
            WITH registry AS (
                SELECT detector_id, road_segment_id, road_class, longitude, latitude
                FROM silver.detector
                QUALIFY row_number() OVER (PARTITION BY detector_id
                                           ORDER BY _ingested_at DESC, _batch_id DESC, _line DESC) = 1),
            members AS (
                SELECT r.detector_id, coalesce(r.road_segment_id, r.detector_id) AS segment_id, r.road_class,
                       j.junction_id, j.division_code
                FROM registry AS r
                JOIN _junctions AS j
                  ON ST_Distance_Sphere(ST_Point(j.lat, j.lon), ST_Point(r.latitude, r.longitude)) <= j.approach_m
                QUALIFY row_number() OVER (
                    PARTITION BY r.detector_id
                    ORDER BY ST_Distance_Sphere(ST_Point(j.lat, j.lon), ST_Point(r.latitude, r.longitude)),
                             j.junction_id) = 1),
            approaches AS (
                SELECT m.junction_id, m.division_code, m.segment_id, min(m.road_class) AS road_class,
                       f.interval_start AS ts,
                       sum(f.volume * f.mean_speed) FILTER (WHERE f.volume > 0)
                           / nullif(sum(f.volume) FILTER (WHERE f.volume > 0), 0) AS speed
                FROM silver.detector_flow AS f
                JOIN members AS m USING (detector_id)
                WHERE f.interval_start IS NOT NULL
                GROUP BY m.junction_id, m.division_code, m.segment_id, f.interval_start),
            indexed AS (
                SELECT *, {index} AS congestion_index FROM approaches WHERE speed IS NOT NULL)
            SELECT junction_id, segment_id, division_code, congestion_index::DOUBLE AS congestion_index,
                   {grade} AS grade, ts,
                   'congestion_reading:' || junction_id AS _batch_id, CAST(epoch(ts) AS BIGINT) AS _line
            FROM indexed
            WHERE congestion_index IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY junction_id, ts ORDER BY congestion_index DESC, segment_id) = 1
            ORDER BY ts, junction_id""").to_arrow_table()
    finally:
        con.unregister("_junctions")
    return {"congestion_reading": readings}
