-- The network link registry: the latest conforming row of each link.
select link_id, upstream_node_id, upstream_if, downstream_node_id, level, capacity_mbps::double as capacity_mbps,
       medium, operator, contractor, division_code
from {{ latest_versions(source('silver', 'network_link'), 'link_id') }}
