-- Camera KPIs per district: the branch rows of mart_camera_kpis_by_level (where the rates are computed) for every
-- division of the city profile, with its names, land area and cameras per km².
with kpis as (
    select * from {{ ref('mart_camera_kpis_by_level') }} where level = 'branch'
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
    d.area_km2,
    coalesce(k.cameras, 0)::bigint as cameras,
    coalesce(k.cameras_in_service, 0)::bigint as cameras_in_service,
    coalesce(k.key_points, 0)::bigint as key_points,
    round(coalesce(k.cameras, 0) / d.area_km2, 4)::double as cameras_per_km2,
    coalesce(k.online, 0)::bigint as online,
    coalesce(k.intact, 0)::bigint as intact,
    coalesce(k.with_picture, 0)::bigint as with_picture,
    coalesce(k.hd, 0)::bigint as hd,
    coalesce(k.networked, 0)::bigint as networked,
    coalesce(k.with_network_path, 0)::bigint as with_network_path,
    k.path_up_share,
    coalesce(k.offline_by_network, 0)::bigint as offline_by_network,
    coalesce(k.offline_by_device, 0)::bigint as offline_by_device,
    k.online_rate,
    k.intact_rate,
    k.hd_ratio,
    k.networking_rate,
    coalesce(k.key_places, 0)::bigint as key_places,
    coalesce(k.key_places_covered, 0)::bigint as key_places_covered,
    coalesce(k.key_places_covered_online, 0)::bigint as key_places_covered_online,
    k.key_place_coverage,
    k.key_place_online_coverage
from divisions as d
left join kpis as k on k.unit_code = d.division_code
order by d.division_code
