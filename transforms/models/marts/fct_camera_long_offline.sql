-- Cameras offline (or never streamed) for longer than the configured hours at the time of the last health check.
select
    c.device_id,
    c.division_code,
    c.name,
    c.address,
    c.is_key_point,
    c.state,
    c.reason,
    c.state_since,
    c.state_as_of,
    round(date_diff('second', c.state_since, c.state_as_of) / 3600.0, 2)::double as offline_hours
from {{ ref('int_cameras__health') }} as c
where c.in_denominator
  and not c.is_online
  and c.state_since is not null
  and date_diff('second', c.state_since, c.state_as_of) > {{ var('long_offline_hours') }} * 3600
order by offline_hours desc, c.device_id
