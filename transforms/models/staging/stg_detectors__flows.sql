-- Detector counts per lane and interval (5 minutes). The detector's division is digits 4–9 of its ID (DET + GB/T 2260).
-- A view in the daily partitions' step (tag daily), so that the daily models' step reads nothing built by another.
{{ config(tags=['daily']) }}
select
    detector_id,
    substr(detector_id, 4, 6) as division_code,
    interval_start,
    interval_minutes,
    lane_no,
    volume,
    occupancy,
    mean_speed,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ source('silver', 'detector_flow') }}
