"""110 calls with their dispatch chain."""

from safecity.orchestration.defs.ingestion import entity_ingestion

alarm_calls = entity_ingestion("alarm_call", ["alarm_calls_csv"], "incidents", "110接处警记录", "110 calls")
