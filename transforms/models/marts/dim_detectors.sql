-- The traffic detectors as the traffic platform registers them now, with the display names of their codes: the
-- dimension the traffic marts and the traffic command platform join detector IDs to.
with detectors as (
    select * from {{ ref('stg_traffic_platform__detectors') }}
),

codes as (
    select table_id, code, name_zh, name_en
    from {{ source('reference', 'code_values') }}
    where table_id in ('detector_type', 'road_class')
),

segments as (
    select road_segment_id, count(*)::bigint as segment_detectors
    from detectors
    where road_segment_id is not null
    group by road_segment_id
)

select
    d.detector_id,
    d.name,
    d.detector_type,
    t.name_zh as detector_type_name_zh,
    t.name_en as detector_type_name_en,
    d.road_segment_id,
    s.segment_detectors,
    d.road_name,
    d.road_class,
    c.name_zh as road_class_name_zh,
    c.name_en as road_class_name_en,
    d.direction,
    d.lane_count::integer as lane_count,
    d.longitude,
    d.latitude,
    d.division_code,
    v.name_zh as division_name_zh,
    d.installed_at
from detectors as d
left join codes as t on t.table_id = 'detector_type' and t.code = d.detector_type
left join codes as c on c.table_id = 'road_class' and c.code = d.road_class
left join segments as s using (road_segment_id)
left join {{ source('reference', 'divisions') }} as v using (division_code)
order by d.detector_id
