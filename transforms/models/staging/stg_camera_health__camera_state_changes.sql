-- Every change of a camera's health state.
select
    device_id,
    changed_at,
    from_state,
    to_state,
    reason
from {{ source('camera_health', 'camera_state_change') }}
