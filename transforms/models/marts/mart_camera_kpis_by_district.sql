-- Camera KPIs per district: inventory, density per km², HD ratio, online rate, intact rate (完好率), networking rate.
-- Rates divide by the cameras that should be online (decommissioned ones are out of the denominator).
with cameras as (
    select * from {{ ref('int_cameras__health') }}
),

divisions as (
    select d.division_code, d.name_zh, d.name_en, f.area_km2
    from {{ source('reference', 'divisions') }} as d
    join {{ division_facts() }} as f using (division_code)
)

select
    d.division_code,
    d.name_zh as division_name_zh,
    d.name_en as division_name_en,
    any_value(d.area_km2) as area_km2,
    count(c.device_id)::bigint as cameras,
    count(c.device_id) filter (where c.in_denominator)::bigint as cameras_in_service,
    count(c.device_id) filter (where c.is_key_point)::bigint as key_points,
    round(count(c.device_id) / any_value(d.area_km2), 4)::double as cameras_per_km2,
    count(c.device_id) filter (where c.in_denominator and c.is_online)::bigint as online,
    count(c.device_id) filter (where c.in_denominator and c.is_intact)::bigint as intact,
    count(c.device_id) filter (where c.in_denominator and c.is_hd is not null)::bigint as with_picture,
    count(c.device_id) filter (where c.in_denominator and c.is_hd)::bigint as hd,
    count(c.device_id) filter (where c.in_denominator and c.is_networked)::bigint as networked,
    (count(c.device_id) filter (where c.in_denominator and c.is_online)
        / nullif(count(c.device_id) filter (where c.in_denominator), 0))::double as online_rate,
    (count(c.device_id) filter (where c.in_denominator and c.is_intact)
        / nullif(count(c.device_id) filter (where c.in_denominator), 0))::double as intact_rate,
    (count(c.device_id) filter (where c.in_denominator and c.is_hd)
        / nullif(count(c.device_id) filter (where c.in_denominator and c.is_hd is not null), 0))::double as hd_ratio,
    (count(c.device_id) filter (where c.in_denominator and c.is_networked)
        / nullif(count(c.device_id) filter (where c.in_denominator), 0))::double as networking_rate
from divisions as d
left join cameras as c using (division_code)
group by d.division_code, d.name_zh, d.name_en
order by d.division_code
