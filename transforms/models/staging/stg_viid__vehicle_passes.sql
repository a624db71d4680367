-- Checkpoint vehicle passes (GA/T 1400 MotorVehicle), as events. The plate stays sensitive (masked on gold).
-- A view in the daily partitions' step (tag daily), so that the daily models' step reads nothing built by another.
{{ config(tags=['daily']) }}
select
    motor_vehicle_id,
    tollgate_id,
    device_id,
    division_code,
    lane_no,
    pass_time,
    date_trunc('hour', pass_time) as pass_hour,
    has_plate,
    plate_no,
    plate_class,
    plate_color,
    speed,
    direction,
    vehicle_class,
    name_of_passed_road as road_name,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ source('silver', 'vehicle_pass') }}
