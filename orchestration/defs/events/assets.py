"""One multi-asset for every event table the producers write: they share one warehouse connection and one pass over
silver, and the rule engine's batch mode (the outbox asset) reads them."""
import dagster as dg

from safecity.analytics.policy_events import EVENT_TABLES, PRODUCERS, refresh_policy_events
from safecity.ingestion.landing import data_clock, open_landing
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource
from safecity.standards.catalogue import Catalogue

OWNERS = ["team:policy"]
EVENT_ASSETS = [dg.AssetKey(["silver", name]) for name in EVENT_TABLES]


def _spec(producer, name: str, catalogue) -> dg.AssetSpec:
    event = catalogue.events[name]
    return dg.AssetSpec(
        dg.AssetKey(["silver", name]), group_name="events", kinds={"iceberg"}, owners=OWNERS,
        deps=[dg.AssetKey(table.split(".")) for table in producer.inputs],
        description=f"{event.name_zh}（{producer.name_zh}事件，由当日数据生成）/ {event.name_en}: events derived "
                    f"from {', '.join(producer.inputs)} for the policies",
        skippable=True)


def policy_events_asset(catalogue: Catalogue) -> dg.AssetsDefinition:
    """The producers' asset; the catalogue gives each table its Chinese and English name."""

    @dg.multi_asset(specs=[_spec(p, name, catalogue) for p in PRODUCERS for name in p.produces],
                    pool=WAREHOUSE_POOL, name="policy_events", can_subset=False)
    def policy_events(context: dg.AssetExecutionContext, catalog: IcebergCatalogResource):
        settings = catalog.settings()
        report = refresh_policy_events(settings, as_of=data_clock(open_landing(settings)))
        for producer, missing in report.skipped.items():
            context.log.warning("events: %s skipped, silver lacks %s", producer, ", ".join(missing))
        context.log.info("events: %s", ", ".join(f"{n} {r:,}" for n, r in report.rows.items()))
        for name, rows in report.rows.items():
            yield dg.MaterializeResult(asset_key=dg.AssetKey(["silver", name]), metadata={"dagster/row_count": rows})

    return policy_events
