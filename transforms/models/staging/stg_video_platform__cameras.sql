-- The current registry: the latest conforming row of each camera across all catalog exports.
with ranked as (
    select
        *,
        row_number() over (
            partition by device_id
            order by _ingested_at desc, _batch_id desc, _line desc
        ) as recency_rank
    from {{ source('silver', 'camera') }}
)

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
    use_type = '3' as is_key_point,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from ranked
where recency_rank = 1
