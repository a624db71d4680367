-- Checkpoint passes (one row per pass) for the traffic command platform. The plate is sensitive: roles without
-- clearance read gold_masked.fct_vehicle_passes.
-- The largest fact (millions of passes a day at city scale): incremental, in daily partitions (tag daily). A
-- partition run rebuilds the passes of its days (so late passes of a day join it when the day is run again); a build
-- without days adds the passes ingested since the last one. A pass key is unique for good (a repeated key is
-- quarantined by ingestion), so delete+insert on the key keeps a re-run from doubling rows.
{{ config(materialized='incremental', unique_key='motor_vehicle_id', incremental_strategy='delete+insert',
          on_schema_change='fail', tags=['daily']) }}
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
    road_name,
    ingested_at
from {{ ref('stg_viid__vehicle_passes') }}
{% if is_incremental() and partition_days_given() %}
where {{ in_partition_days('pass_time') }}
{% elif is_incremental() %}
where ingested_at > (select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }})
{% endif %}
