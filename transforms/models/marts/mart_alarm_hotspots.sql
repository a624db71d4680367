-- 110 call hotspots: calls per cell of the city grid (config/grid.py, the cells camera events carry), marked on a
-- map at the mean position of the cell's calls (the grid's arithmetic stays in config/grid.py, so no inverse here).
with calls as (
    select * from {{ ref('int_alarm_calls__dispatch_chain') }} where grid_id is not null
)

select
    received_date,
    grid_id,
    any_value(division_code) as division_code,
    count(*)::bigint as calls,
    count(distinct category)::bigint as categories,
    round(avg(longitude), 6)::double as centre_longitude,
    round(avg(latitude), 6)::double as centre_latitude,
    rank() over (partition by received_date order by count(*) desc)::bigint as hotspot_rank
from calls
group by received_date, grid_id
order by received_date, calls desc, grid_id
