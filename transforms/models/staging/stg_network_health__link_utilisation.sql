-- Link utilisation per minute (null over a counter reset).
select link_id, minute, in_mbps, out_mbps, utilisation
from {{ source('network_health', 'link_utilisation') }}
