"""The support system behind the camera network (保障体系): duty rosters, maintenance work orders, budgets."""

from safecity.orchestration.defs.ingestion import entity_ingestion

duty_rosters = entity_ingestion("duty_roster", ["duty_rosters_csv"], "support", "值班表", "Duty rosters")
work_orders = entity_ingestion("maintenance_work_order", ["maintenance_work_orders_csv"], "support", "运维工单",
                               "Maintenance work orders")
budgets = entity_ingestion("maintenance_budget", ["maintenance_budgets_csv"], "support", "运维预算",
                           "Maintenance budgets")
