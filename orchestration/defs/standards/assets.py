"""Reference data generated from the standards catalogue (divisions, code tables) for dbt to join."""

import dagster as dg

from safecity.orchestration.generated import write_dictionary
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource, WarehouseResource
from safecity.standards.catalogue import load_catalogue
from safecity.standards.publish import publish_reference

DIVISIONS = dg.AssetKey(["reference", "divisions"])
CODE_VALUES = dg.AssetKey(["reference", "code_values"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DIVISIONS, group_name="standards", kinds={"duckdb"}, owners=["team:data-platform"],
                     description="本市行政区划（GB/T 2260，来自城市配置）/ The city's divisions, from the city profile"),
        dg.AssetSpec(CODE_VALUES, group_name="standards", kinds={"duckdb"}, owners=["team:data-platform"],
                     description="全部代码表的代码值（来自 standards/）/ Every code table's values, from standards/"),
    ],
    pool=WAREHOUSE_POOL,
)
def reference_tables(warehouse: WarehouseResource):
    catalogue = load_catalogue(warehouse.catalog.settings().city.id)
    with warehouse.connect() as con:
        counts = publish_reference(con, catalogue)
    yield dg.MaterializeResult(asset_key=DIVISIONS, metadata={"dagster/row_count": counts["divisions"]})
    yield dg.MaterializeResult(asset_key=CODE_VALUES, metadata={"dagster/row_count": counts["code_values"],
                                                                "code_tables": len(catalogue.code_tables)})


@dg.asset(key=dg.AssetKey(["docs", "data_dictionary"]), group_name="standards", kinds={"html"},
          owners=["team:data-platform"],
          description="数据字典（中英文，Markdown 与可检索的网页）/ The bilingual data dictionary (Markdown and a "
                      "searchable HTML page), generated from standards/")
def data_dictionary(safecity: SafeCityResource) -> dg.MaterializeResult:
    settings = safecity.settings()
    catalogue = load_catalogue(settings.city.id)
    markdown, page = write_dictionary(catalogue, settings.paths.home / "docs")
    return dg.MaterializeResult(metadata={
        "html": dg.MetadataValue.path(str(page)), "markdown": dg.MetadataValue.path(str(markdown)),
        "entities": len(catalogue.entities), "code_tables": len(catalogue.code_tables),
        "formats": len(catalogue.formats), "events": len(catalogue.events)})
