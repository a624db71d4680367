-- Snapshot quality diagnosis: a row per snapshot and check (verdict, defect class, picture size).
select
    file,
    device_id,
    captured_at,
    "check" as check_item,
    score,
    threshold,
    verdict,
    defect,
    width,
    height,
    _batch_id as batch_id
from {{ source('camera_health', 'snapshot_diagnosis') }}
