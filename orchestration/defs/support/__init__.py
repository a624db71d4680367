"""The support system behind the camera network: duty rosters, work orders, budgets."""
import dagster as dg

from safecity.orchestration.defs.support.assets import budgets, duty_rosters, work_orders


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[duty_rosters, work_orders, budgets])
