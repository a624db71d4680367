"""Events: the events the policies read, derived from the day's silver tables by the producers of
safecity.analytics.policy_events (the camera health events come from the cameras domain)."""
import dagster as dg

from safecity.orchestration.defs.events.assets import policy_events_asset


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[policy_events_asset(context.catalogue)])
