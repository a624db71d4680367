-- Node state stays (analytics/network_state.py): until is null while the stay is open.
select node_id, state, since, until, reason, reason_zh, reason_en, evidence, last_evidence_at
from {{ source('network_health', 'node_state') }}
