"""The Dagster code location for the settings in force: `dagster dev -m safecity.orchestration.location`
(what `safecity ui` runs). Kept apart from definitions.py so that importing the builder has no side effects."""
from safecity.orchestration.definitions import build_definitions

defs = build_definitions()
