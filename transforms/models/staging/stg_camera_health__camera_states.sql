-- The current health state of each camera (online, degraded, offline, never streamed, decommissioned).
select
    device_id,
    parent_id,
    is_recorder,
    state,
    state_zh,
    state_en,
    reason,
    reason_zh,
    fault_type,
    since,
    last_evidence,
    as_of
from {{ source('camera_health', 'camera_state') }}
