-- Checkpoint passes (one row per pass) for the traffic command platform. The plate is sensitive: roles without
-- clearance read gold_masked.fct_vehicle_passes.
select
    motor_vehicle_id,
    pass_time,
    pass_time::date as pass_date,
    tollgate_id,
    device_id,
    division_code,
    lane_no,
    has_plate,
    plate_no,
    plate_class,
    plate_color,
    vehicle_class,
    speed,
    direction,
    road_name
from {{ ref('stg_viid__vehicle_passes') }}
