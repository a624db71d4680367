-- Which access node each camera or NVR hangs below: the latest conforming row of each device.
select device_id, node_id, port
from {{ latest_versions(source('silver', 'network_attachment'), 'device_id') }}
