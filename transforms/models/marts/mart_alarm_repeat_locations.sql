-- Repeat locations: grid cells with at least the configured number of calls of one category on one day.
select
    received_date,
    grid_id,
    category,
    any_value(division_code) as division_code,
    count(*)::bigint as calls,
    list(call_id order by received_at) as call_ids,
    min(received_at) as first_received_at,
    max(received_at) as last_received_at
from {{ ref('int_alarm_calls__dispatch_chain') }}
where grid_id is not null
group by received_date, grid_id, category
having count(*) >= {{ var('repeat_location_min_calls') }}
order by received_date, calls desc, grid_id, category
