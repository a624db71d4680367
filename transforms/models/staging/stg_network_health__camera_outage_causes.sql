-- Each camera offline stay with the element it is attributed to (analytics/network_cause.py).
select camera_id, since, until, cause_element_type, cause_element_id, contractor, reason_zh, reason_en
from {{ source('network_health', 'camera_outage_cause') }}
