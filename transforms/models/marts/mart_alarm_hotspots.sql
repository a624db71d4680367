-- 110 call hotspots: calls per cell of the city profile's grid (square cells on UTM 50N), with the cell's centre.
with calls as (
    select * from {{ ref('int_alarm_calls__dispatch_chain') }} where grid_x is not null
),

cells as (
    select
        received_date,
        grid_x,
        grid_y,
        any_value(division_code) as division_code,
        count(*)::bigint as calls,
        count(distinct category)::bigint as categories
    from calls
    group by all
),

centres as (
    select
        *,
        ST_Transform(ST_Point((grid_x + 0.5) * {{ safecity_var('grid_cell_m') or 1 }},
                              (grid_y + 0.5) * {{ safecity_var('grid_cell_m') or 1 }}),
                     '{{ var("metric_crs") }}', 'EPSG:4326', always_xy := true) as centre
    from cells
)

select
    received_date,
    grid_x,
    grid_y,
    division_code,
    calls,
    categories,
    round(ST_X(centre), 6)::double as centre_longitude,
    round(ST_Y(centre), 6)::double as centre_latitude,
    rank() over (partition by received_date order by calls desc)::bigint as hotspot_rank
from centres
order by received_date, calls desc, grid_x, grid_y
