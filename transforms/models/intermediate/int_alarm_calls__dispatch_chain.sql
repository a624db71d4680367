-- Each call's dispatch chain in seconds, its area's arrival target (urban 5 min, suburban 10 min), its city grid cell,
-- and the three police levels it belongs to: station (派出所 = handling unit), branch (分局 = division), city (市局).
with calls as (
    select * from {{ ref('stg_dispatch__alarm_calls') }}
),

divisions as (
    select * from {{ division_facts() }}
),

chain as (
    select
        c.*,
        date_diff('second', c.received_at, c.dispatched_at) as received_to_dispatched_s,
        date_diff('second', c.dispatched_at, c.arrived_at) as dispatched_to_arrived_s,
        date_diff('second', c.received_at, c.arrived_at) as received_to_arrived_s,
        coalesce(d.is_urban, false) as is_urban,
        case when coalesce(d.is_urban, false) then {{ var('urban_arrival_target_s') }}
             else {{ var('suburban_arrival_target_s') }} end as arrival_target_s
    from calls as c
    left join divisions as d using (division_code)
)

select
    *,
    received_at::date as received_date,
    hour(received_at) as received_hour,
    received_to_arrived_s <= arrival_target_s as arrived_within_target,
    {{ grid_cell('longitude', 'latitude') }} as grid_id,
    {{ police_levels('handling_unit', 'division_code') }}
from chain
