"""What counts as one network outage (网络中断): a network element's down stays, each following the previous one
within FLAP_MINUTES of its end, are one outage. A port flapping for an hour, which the link state machine shows as
one down stay per flap, is one fault and one work order, not ten.

The rule is rendered here as SQL once, for the network_outage events (analytics/network_events.py) and for the
mart_network_faults model (transforms/dbt_vars.py passes it to dbt), so the policies and the marts count the same
outages."""
from __future__ import annotations

FLAP_MINUTES = 10


def outage_episodes_sql(down: str) -> str:
    """A query over the relation `down` (element_type, element_id, since, until, … one row per down stay) with
    `episode` added: the number of the element's outage the stay belongs to, from 1 in the order of since."""
    return (f"SELECT *, sum(CASE WHEN prev_until IS NULL OR since - prev_until > INTERVAL {FLAP_MINUTES} MINUTE "
            f"THEN 1 ELSE 0 END) OVER (PARTITION BY element_type, element_id ORDER BY since "
            f"ROWS UNBOUNDED PRECEDING) AS episode "
            f"FROM (SELECT *, lag(until) OVER (PARTITION BY element_type, element_id ORDER BY since) AS prev_until "
            f"FROM {down})")
