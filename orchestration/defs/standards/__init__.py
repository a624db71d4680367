"""Reference data and the data dictionary, generated from the standards catalogue."""
import dagster as dg

from safecity.orchestration.defs.standards.assets import data_dictionary, reference_tables


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[reference_tables, data_dictionary])
