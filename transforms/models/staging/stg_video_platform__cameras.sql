-- The current registry: the latest conforming row of each camera across all catalog exports. A point's level is the
-- site's rule (point_levels.yaml through dbt_vars), the one the camera events and the policies grade it by.
select
    device_id,
    division_code,
    industry_code,
    type_code,
    network_code,
    name,
    manufacturer,
    model,
    address,
    longitude,
    latitude,
    ptz_type,
    use_type,
    position_type,
    parent_id,
    status,
    status = 'ON' as is_online,
    install_status,
    ({{ safecity_var('point_level_sql') or "'normal'" }}) as point_level,
    ({{ safecity_var('point_level_sql') or "'normal'" }}) = 'key' as is_key_point,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ latest_versions(source('silver', 'camera'), 'device_id') }}
