-- Traffic incidents from the traffic command platform.
select
    incident_id,
    incident_type,
    occurred_at,
    reported_at,
    cleared_at,
    division_code,
    road_name,
    road_segment_id,
    road_class,
    direction,
    lanes_blocked,
    casualties,
    deaths,
    injuries,
    accident_type,
    longitude,
    latitude,
    related_call_id,
    _batch_id as batch_id
from {{ source('silver', 'traffic_incident') }}
