-- Cameras per district and device type: the inventory the command centre and the provincial platform read.
with cameras as (
    select * from {{ ref('stg_video_platform__cameras') }}
),

device_types as (
    select code, name_zh, name_en
    from {{ source('reference', 'code_values') }}
    where table_id = 'gb28181_device_type'
)

select
    d.division_code,
    d.name_zh as division_name_zh,
    d.name_en as division_name_en,
    c.type_code,
    t.name_zh as type_name_zh,
    t.name_en as type_name_en,
    count(*)::bigint as cameras,
    count(*) filter (where c.is_online)::bigint as online,
    count(*) filter (where c.is_key_point)::bigint as key_points,
    round(count(*) filter (where c.is_online) / count(*), 4)::double as online_rate
from cameras as c
join {{ source('reference', 'divisions') }} as d using (division_code)
left join device_types as t on t.code = c.type_code
group by all
order by d.division_code, c.type_code
