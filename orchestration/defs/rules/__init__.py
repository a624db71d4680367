"""Policies over silver: the batch mode of the rule engine and its outbox."""
import dagster as dg

from safecity.orchestration.defs.rules.assets import policy_outbox


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[policy_outbox])
