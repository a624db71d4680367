-- Checkpoint passes (one row per pass) for the traffic command platform. The plate is sensitive: roles without
-- clearance read gold_masked.fct_vehicle_passes.
-- The largest fact (millions of passes a day at city scale): incremental, in daily partitions (tag daily). Every
-- build adds the passes ingested since the last one (late passes of an earlier day too, so a backfill day by day
-- ends where a backfill in one run does); a partition run also rebuilds the passes of its days. A pass key is
-- unique for good (a repeated key is quarantined by ingestion), so delete+insert on the key keeps a re-run from
-- doubling rows.
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
{% if is_incremental() %}
where ingested_at > (select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }})
{% if partition_days_given() %} or {{ in_partition_days('pass_time') }}{% endif %}
{% endif %}
