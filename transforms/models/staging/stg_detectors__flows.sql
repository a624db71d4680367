-- Detector counts per lane and interval (5 minutes). The detector's division is digits 4–9 of its ID (DET + GB/T 2260).
select
    detector_id,
    substr(detector_id, 4, 6) as division_code,
    interval_start,
    interval_minutes,
    lane_no,
    volume,
    occupancy,
    mean_speed,
    _batch_id as batch_id
from {{ source('silver', 'detector_flow') }}
