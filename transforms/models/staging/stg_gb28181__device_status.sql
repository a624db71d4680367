-- Keepalives and status reports of GB/T 28181 devices, as events (one row each).
select
    device_id,
    division_code,
    type_code,
    cmd_type,
    status,
    status = 'ON' as is_on,
    reported_at,
    _batch_id as batch_id
from {{ source('silver', 'device_status') }}
