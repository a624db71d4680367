-- Each camera's access path through the network registry and how long it was up. The path: the camera's own
-- attachment (network_attachment), else its NVR's (its registry parent), gives its access node; from there the
-- links upstream (network_link, downstream → upstream node) to a node of level city. has_network_path: that chain
-- reaches a city node. path_up_share: over the network telemetry's span (first link-state stay to the last
-- evidence), the share of time no link or node of the path was down (link_state / node_state stays in state down,
-- overlapping ones counted once). A site without a network registry has no rows here.
with recursive cameras as (
    select device_id, parent_id from {{ ref('stg_video_platform__cameras') }} where type_code in ('131', '132')
),

links as (
    select * from {{ ref('stg_network__links') }}
),

nodes as (
    select * from {{ ref('stg_network__nodes') }}
),

attachments as (
    select * from {{ ref('stg_network__attachments') }}
),

access as (
    select c.device_id, coalesce(own.node_id, nvr.node_id) as access_node_id
    from cameras as c
    left join attachments as own on own.device_id = c.device_id
    left join attachments as nvr on nvr.device_id = c.parent_id
    where coalesce(own.node_id, nvr.node_id) is not null
),

-- Every node with the links and nodes above it; depth capped so a registry with a loop cannot recurse forever.
ancestry(node_id, link_id, upstream_node_id, depth) as (
    select downstream_node_id, link_id, upstream_node_id, 1 from links
    union all
    select a.node_id, l.link_id, l.upstream_node_id, a.depth + 1
    from ancestry as a join links as l on l.downstream_node_id = a.upstream_node_id
    where a.depth < 16
),

reaches_core as (
    select distinct a.node_id
    from ancestry as a join nodes as n on n.node_id = a.upstream_node_id
    where n.level = 'city'
),

elements as (
    select device_id, 'node' as element_type, access_node_id as element_id from access
    union all
    select x.device_id, 'link', a.link_id from access as x join ancestry as a on a.node_id = x.access_node_id
    union all
    select x.device_id, 'node', a.upstream_node_id from access as x join ancestry as a on a.node_id = x.access_node_id
),

link_states as (
    select * from {{ ref('stg_network_health__link_states') }}
),

node_states as (
    select * from {{ ref('stg_network_health__node_states') }}
),

span as (
    select
        (select min(since) from link_states) as span_start,
        greatest(
            (select max(greatest(since, coalesce(until, since), coalesce(last_evidence_at, since))) from link_states),
            (select max(greatest(since, coalesce(until, since), coalesce(last_evidence_at, since))) from node_states)
        ) as span_end
),

down as (
    select 'link' as element_type, link_id as element_id, since, until from link_states where state = 'down'
    union all
    select 'node', node_id, since, until from node_states where state = 'down'
),

-- The path's down stays clipped to the span, then merged: a stay starting after every earlier one has ended opens
-- a new island.
clipped as (
    select distinct e.device_id, greatest(d.since, s.span_start) as s, least(coalesce(d.until, s.span_end), s.span_end) as e
    from elements as e
    join down as d using (element_type, element_id)
    cross join span as s
),

ordered as (
    select *, max(e) over (partition by device_id order by s, e rows between unbounded preceding and 1 preceding)
                  as reach
    from clipped where e > s
),

islands as (
    select *, sum(case when reach is null or s > reach then 1 else 0 end)
                  over (partition by device_id order by s, e rows unbounded preceding) as island
    from ordered
),

down_seconds as (
    select device_id, sum(seconds) as seconds_down
    from (select device_id, island, epoch(max(e) - min(s)) as seconds from islands group by all)
    group by device_id
)

select
    a.device_id,
    a.access_node_id,
    r.node_id is not null as has_network_path,
    coalesce(d.seconds_down, 0) / 60.0 as path_down_minutes,
    case when epoch(s.span_end - s.span_start) > 0
         then 1 - coalesce(d.seconds_down, 0) / epoch(s.span_end - s.span_start) end as path_up_share
from access as a
cross join span as s
left join reaches_core as r on r.node_id = a.access_node_id
left join down_seconds as d using (device_id)
