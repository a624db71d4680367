-- Checkpoint (卡口) vehicle passes per hour, checkpoint and lane.
select
    pass_hour,
    tollgate_id,
    division_code,
    lane_no,
    count(*)::bigint as passes,
    count(*) filter (where has_plate)::bigint as plated_passes,
    round(avg(speed), 2)::double as mean_speed
from {{ ref('stg_viid__vehicle_passes') }}
group by all
order by all
