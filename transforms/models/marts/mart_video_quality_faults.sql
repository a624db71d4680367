-- Video-quality faults by defect class and district: snapshots and cameras with each defect (snapshot diagnosis).
with faults as (
    select s.*, c.division_code
    from {{ ref('stg_camera_health__snapshot_diagnosis') }} as s
    left join {{ ref('stg_video_platform__cameras') }} as c using (device_id)
    where s.defect is not null
)

select
    coalesce(division_code, substr(device_id, 1, 6)) as division_code,
    defect,
    count(distinct file)::bigint as snapshots,
    count(distinct device_id)::bigint as cameras,
    min(captured_at) as first_seen_at,
    max(captured_at) as last_seen_at
from faults
group by all
order by division_code, defect
