-- Video coverage of the city's key places (重点场所, config/cities/<city>/key_places.yaml): a place is covered when at
-- least one camera in service stands within its radius, covered online when one of them is online. Distances are
-- great-circle metres between WGS-84 positions.
with places as (
    select * from {{ key_place_facts() }}
),

cameras as (
    select device_id, longitude, latitude, is_online
    from {{ ref('int_cameras__health') }}
    where in_denominator and longitude is not null and latitude is not null
),

distances as (
    select
        p.id as place_id,
        c.device_id,
        c.is_online,
        ST_Distance_Sphere(ST_Point(p.lat, p.lon), ST_Point(c.latitude, c.longitude)) as distance_m
    from places as p
    cross join cameras as c
)

select
    p.id as place_id,
    p.name_zh as place_name_zh,
    p.name_en as place_name_en,
    p.kind,
    p.division as division_code,
    p.lon as longitude,
    p.lat as latitude,
    p.radius_m,
    count(d.device_id) filter (where d.distance_m <= p.radius_m)::bigint as cameras_within,
    count(d.device_id) filter (where d.distance_m <= p.radius_m and d.is_online)::bigint as online_cameras_within,
    count(d.device_id) filter (where d.distance_m <= p.radius_m) > 0 as is_covered,
    count(d.device_id) filter (where d.distance_m <= p.radius_m and d.is_online) > 0 as is_covered_online,
    round(min(d.distance_m), 1)::double as nearest_camera_m
from places as p
left join distances as d on d.place_id = p.id
group by all
order by division_code, place_id
