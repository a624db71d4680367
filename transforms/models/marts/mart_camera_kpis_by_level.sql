-- Camera KPIs at the three police levels (city 市局, branch 分局, station 派出所; each level's row covers the levels
-- below it): inventory, online, intact (完好), HD and networking rates (联网: keepalives and, where the site has a
-- network registry, a registry path to the city core; int_cameras__health), the offline cameras split by cause
-- (the network above them versus their own or their NVR's fault), and the coverage of key places (城市 and
-- branch only: a key place belongs to a division, not to a station). Rates divide by the cameras that should be
-- online (decommissioned ones are out of the denominator).
with cameras as (
    select * from {{ ref('int_cameras__health') }}
),

camera_levels as (
    select * from {{ three_levels('cameras') }}
),

counts as (
    select
        level,
        unit_code,
        parent_code,
        count(*)::bigint as cameras,
        count(*) filter (where in_denominator)::bigint as cameras_in_service,
        count(*) filter (where is_key_point)::bigint as key_points,
        count(*) filter (where in_denominator and is_online)::bigint as online,
        count(*) filter (where in_denominator and is_intact)::bigint as intact,
        count(*) filter (where in_denominator and is_hd is not null)::bigint as with_picture,
        count(*) filter (where in_denominator and is_hd)::bigint as hd,
        count(*) filter (where in_denominator and is_networked)::bigint as networked,
        count(*) filter (where in_denominator and has_network_path)::bigint as with_network_path,
        avg(path_up_share) filter (where in_denominator and has_network_path)::double as path_up_share,
        count(*) filter (where is_offline_by_network)::bigint as offline_by_network,
        count(*) filter (where is_offline_by_device)::bigint as offline_by_device
    from camera_levels
    group by all
),

places as (
    select
        is_covered,
        is_covered_online,
        null::varchar as station_code,
        division_code as branch_code,
        '{{ safecity_var("city_code") }}' as city_code
    from {{ ref('mart_key_place_coverage') }}
),

coverage as (
    select
        level,
        unit_code,
        any_value(parent_code) as parent_code,
        count(*)::bigint as key_places,
        count(*) filter (where is_covered)::bigint as key_places_covered,
        count(*) filter (where is_covered_online)::bigint as key_places_covered_online
    from {{ three_levels('places') }}
    where unit_code is not null
    group by level, unit_code
)

select
    level,
    unit_code,
    coalesce(c.parent_code, p.parent_code) as parent_code,
    coalesce(c.cameras, 0)::bigint as cameras,
    coalesce(c.cameras_in_service, 0)::bigint as cameras_in_service,
    coalesce(c.key_points, 0)::bigint as key_points,
    coalesce(c.online, 0)::bigint as online,
    coalesce(c.intact, 0)::bigint as intact,
    coalesce(c.with_picture, 0)::bigint as with_picture,
    coalesce(c.hd, 0)::bigint as hd,
    coalesce(c.networked, 0)::bigint as networked,
    coalesce(c.with_network_path, 0)::bigint as with_network_path,
    c.path_up_share,
    coalesce(c.offline_by_network, 0)::bigint as offline_by_network,
    coalesce(c.offline_by_device, 0)::bigint as offline_by_device,
    (c.online / nullif(c.cameras_in_service, 0))::double as online_rate,
    (c.intact / nullif(c.cameras_in_service, 0))::double as intact_rate,
    (c.hd / nullif(c.with_picture, 0))::double as hd_ratio,
    (c.networked / nullif(c.cameras_in_service, 0))::double as networking_rate,
    p.key_places,
    p.key_places_covered,
    p.key_places_covered_online,
    (p.key_places_covered / nullif(p.key_places, 0))::double as key_place_coverage,
    (p.key_places_covered_online / nullif(p.key_places, 0))::double as key_place_online_coverage
from counts as c
full join coverage as p using (level, unit_code)
order by level, unit_code
