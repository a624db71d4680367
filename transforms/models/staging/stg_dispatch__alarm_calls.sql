-- 110 calls: every export of a call is a version (its dispatch chain grows); the latest wins.
with ranked as (
    select
        *,
        row_number() over (
            partition by call_id
            order by _ingested_at desc, _batch_id desc, _line desc
        ) as recency_rank
    from {{ source('silver', 'alarm_call') }}
)

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
from ranked
where recency_rank = 1
