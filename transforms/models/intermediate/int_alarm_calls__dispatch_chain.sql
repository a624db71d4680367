-- Each call's dispatch chain in seconds, its area's arrival target (urban 5 min, suburban 10 min), its city grid cell,
-- and the three police levels it belongs to: station (派出所 = handling unit), branch (分局 = division), city (市局).
-- A call whose units were exported (silver.dispatched_unit) is timed by its first dispatched and first arriving unit
-- (int_alarm_calls__first_units), whatever the call record says; a call without units keeps its own times.
with units as (
    select * from {{ ref('int_alarm_calls__first_units') }}
),

calls as (
    select
        c.* replace (
            case when u.call_id is null then c.dispatched_at else u.first_dispatched_at end as dispatched_at,
            case when u.call_id is null then c.arrived_at else u.first_arrived_at end as arrived_at
        ),
        u.first_enroute_at as enroute_at,
        coalesce(u.units_dispatched, 0)::bigint as units_dispatched,
        u.first_arrived_unit,
        case when u.call_id is null then 'call' else 'units' end as chain_source
    from {{ ref('stg_dispatch__alarm_calls') }} as c
    left join units as u on u.call_id = c.call_id
),

divisions as (
    select * from {{ division_facts() }}
),

chain as (
    select
        c.*,
        date_diff('second', c.received_at, c.dispatched_at) as received_to_dispatched_s,
        date_diff('second', c.dispatched_at, c.enroute_at) as dispatched_to_enroute_s,
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
