"""Cases from the case management system."""
import dagster as dg

from safecity.orchestration.defs.cases.assets import cases


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[cases])
