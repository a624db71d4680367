-- Network faults (网络故障): one row per outage of a link or node, as the network_outage events count them
-- (analytics/network_events.py): a down stay of the element in link_state / node_state, together with the down
-- stays that follow it closely (config/network_outages.py, rendered through dbt_vars: a flapping port is one fault). since is
-- its first stay's start, until its last stay's end (null while still down); minutes = until (or the telemetry's
-- last evidence) − since; down_minutes adds its stays. cameras_affected: the cameras (types 131/132) whose offline
-- stays silver.camera_outage_cause attributes to the element and overlap one of its stays; key_point_cameras_affected:
-- those at a key point (the site's point levels). Times are the city's local time, as in the state tables.
with links as (
    select * from {{ ref('stg_network__links') }}
),

nodes as (
    select * from {{ ref('stg_network__nodes') }}
),

link_states as (
    select * from {{ ref('stg_network_health__link_states') }}
),

node_states as (
    select * from {{ ref('stg_network_health__node_states') }}
),

evidence_end as (
    select max(t) as as_of from (
        select greatest(since, coalesce(until, since), coalesce(last_evidence_at, since)) as t from link_states
        union all
        select greatest(since, coalesce(until, since), coalesce(last_evidence_at, since)) from node_states)
),

down as (
    select 'link' as element_type, s.link_id as element_id, s.since, s.until, l.level, l.division_code, l.operator,
           coalesce(l.contractor, l.operator) as contractor
    from link_states as s left join links as l using (link_id)
    where s.state = 'down'
    union all
    -- A node is repaired by whoever connects it: its uplink's contractor (or operator).
    select 'node', s.node_id, s.since, s.until, n.level, n.division_code, u.operator,
           coalesce(u.contractor, u.operator)
    from node_states as s left join nodes as n using (node_id)
    left join links as u on u.downstream_node_id = s.node_id
    where s.state = 'down'
),

episodes as (
    {{ (safecity_var('network_outage_episodes_sql') or 'select *, 1 as episode from __down__') | replace('__down__', 'down') }}
),

cameras as (
    select device_id, is_key_point as is_key
    from {{ ref('stg_video_platform__cameras') }}
    where type_code in ('131', '132')
),

hit as (
    select d.element_type, d.element_id, d.episode,
           count(distinct c.camera_id) as cameras,
           count(distinct c.camera_id) filter (where k.is_key) as key_cameras
    from episodes as d
    join {{ ref('stg_network_health__camera_outage_causes') }} as c
      on c.cause_element_type = d.element_type and c.cause_element_id = d.element_id
     and c.since < coalesce(d.until, timestamp '9999-01-01') and coalesce(c.until, timestamp '9999-01-01') > d.since
    join cameras as k on k.device_id = c.camera_id
    group by all
),

outages as (
    select element_type, element_id, episode, min(since) as since,
           case when count(*) filter (where until is null) > 0 then null else max(until) end as until,
           sum(epoch(coalesce(until, e.as_of) - since)) / 60.0 as down_minutes,
           count(*) as down_stays,
           any_value(level) as level, any_value(division_code) as division_code, any_value(operator) as operator,
           any_value(contractor) as contractor
    from episodes cross join evidence_end as e
    group by element_type, element_id, episode
)

select
    o.element_id || ':' || strftime(o.since, '%Y-%m-%dT%H:%M:%S') as outage_id,
    o.element_type,
    o.element_id,
    o.level,
    o.division_code,
    o.operator,
    o.contractor,
    o.since,
    o.until,
    (epoch(coalesce(o.until, e.as_of) - o.since) / 60.0)::double as minutes,
    o.down_minutes::double as down_minutes,
    o.down_stays::bigint as down_stays,
    coalesce(h.cameras, 0)::bigint as cameras_affected,
    coalesce(h.key_cameras, 0)::bigint as key_point_cameras_affected
from outages as o
cross join evidence_end as e
left join hit as h using (element_type, element_id, episode)
order by o.since, o.element_id
