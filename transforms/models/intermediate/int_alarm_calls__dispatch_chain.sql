-- Each call's dispatch chain in seconds, its area's arrival target (urban 5 min, suburban 10 min), its grid cell,
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
             else {{ var('suburban_arrival_target_s') }} end as arrival_target_s,
        ST_Transform(ST_Point(c.longitude, c.latitude), 'EPSG:4326', '{{ var("metric_crs") }}', always_xy := true)
            as position_m
    from calls as c
    left join divisions as d using (division_code)
)

select
    * exclude (position_m),
    received_at::date as received_date,
    hour(received_at) as received_hour,
    received_to_arrived_s <= arrival_target_s as arrived_within_target,
    floor(ST_X(position_m) / {{ safecity_var('grid_cell_m') or 1 }})::bigint as grid_x,
    floor(ST_Y(position_m) / {{ safecity_var('grid_cell_m') or 1 }})::bigint as grid_y,
    coalesce(handling_unit, division_code || '000000') as station_code,
    coalesce(substr(handling_unit, 1, 6), division_code) as branch_code,
    '{{ safecity_var("city_code") }}' as city_code
from chain
