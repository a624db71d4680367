"""The dbt project and gold."""
import dagster as dg

from safecity.orchestration.defs.transforms.assets import build_dbt_assets


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=build_dbt_assets(context.dbt))
