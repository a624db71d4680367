-- The current detector registry: the latest conforming row of each detector across the traffic platform's exports.
-- In the daily partitions' step (tag daily): the detectors' daily health reads it to know the silent ones.
{{ config(tags=['daily']) }}
select
    detector_id,
    name,
    detector_type,
    road_segment_id,
    road_name,
    road_class,
    direction,
    lane_count,
    longitude,
    latitude,
    division_code,
    installed_at,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ latest_versions(source('silver', 'detector'), 'detector_id') }}
