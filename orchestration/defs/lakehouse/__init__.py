"""Lakehouse maintenance: compaction and snapshot expiry, nightly."""
import dagster as dg

from safecity.orchestration.defs.lakehouse.maintenance import lakehouse_maintenance, nightly_maintenance


def definitions(context) -> dg.Definitions:
    return dg.Definitions(jobs=[lakehouse_maintenance], schedules=[nightly_maintenance()])
