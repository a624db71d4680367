-- 110 calls: every export of a call is a version (its dispatch chain grows); the latest wins.
select
    call_id,
    received_at,
    dispatched_at,
    arrived_at,
    handled_at,
    closed_at,
    caller_name,
    caller_phone,
    address,
    longitude,
    latitude,
    category,
    category_type,
    urgency,
    alarm_priority,
    division_code,
    handling_unit,
    status,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ latest_versions(source('silver', 'alarm_call'), 'call_id') }}
