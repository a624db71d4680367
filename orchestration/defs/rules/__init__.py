"""Policies over silver: the batch mode of the rule engine, its outbox, and the delivery of its actions."""
import dagster as dg

from safecity.orchestration.defs.rules.assets import policy_outbox
from safecity.orchestration.defs.rules.delivery import DELIVERY, action_delivery

DELIVERY_JOB = "rules_delivery"


def definitions(context) -> dg.Definitions:
    deliver = dg.define_asset_job(DELIVERY_JOB, selection=dg.AssetSelection.assets(DELIVERY),
                                  description="投递发件箱中的动作 / Deliver the outbox's actions to the sinks")
    return dg.Definitions(assets=[policy_outbox, action_delivery], jobs=[deliver])
