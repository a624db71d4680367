"""110 calls with their dispatch chain."""
import dagster as dg

from safecity.orchestration.defs.incidents.assets import alarm_calls


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[alarm_calls])
