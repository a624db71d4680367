"""Cases from the case management system."""

from safecity.orchestration.defs.ingestion import entity_ingestion

cases = entity_ingestion("case", ["cases_csv"], "cases", "案件", "Cases")
