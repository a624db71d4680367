-- The network node registry: the latest conforming row of each node.
select node_id, node_name, node_type, level, division_code, network
from {{ latest_versions(source('silver', 'network_node'), 'node_id') }}
