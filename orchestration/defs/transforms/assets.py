"""The dbt project as assets: every model downstream of the silver and reference assets it reads, dbt data tests as
asset checks; then gold, assets of their own: the marts as Iceberg tables and the branches' row scopes.

Two steps over one manifest: the models tagged `daily` (the large facts and the views they read) in daily partitions
(defs/partitions.py), built for the run's days, and every other model, unpartitioned, built after them.
"""

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from safecity.analytics.network_health import ensure_network_tables
from safecity.ingestion.tables import ensure_entity_tables
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.orchestration.defs.partitions import SINGLE_RUN, daily, partition_days
from safecity.orchestration.generated import ingested_entities
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource
from safecity.standards.catalogue import load_catalogue
from safecity.standards.publish import publish_reference
from safecity.transforms.dbt_vars import dbt_vars
from safecity.transforms.gold import GOLD, MARTS, MASKED, publish
from safecity.transforms.invocation import build_args, invocation_target, partition_days_environment


class SafeCityTranslator(DagsterDbtTranslator):
    """Keys as `<schema>/<relation>` (staging/…, marts/…, gold_masked/…), one group per layer, sources mapped onto
    our assets through their meta.dagster.asset_key."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node["resource_type"] != "model":
            return spec
        return spec.replace_attributes(
            key=model_key(node),
            group_name=f"analysis_{node['schema']}",
            owners=["team:analytics"],
        )


def model_key(node: Mapping[str, Any]) -> dg.AssetKey:
    return dg.AssetKey([node["schema"], node.get("alias") or node["name"]])


DAILY_MODELS = "tag:daily"


def prepare_sources(catalog: IcebergCatalogResource, log) -> None:
    """Every entity's silver table exists and is visible to dbt, empty for what the site does not send, and so do
    the network step's derived tables (empty on a site without a network registry); the reference tables the dbt
    tests check codes against exist (a graph with few ingestion steps may reach dbt before the reference step,
    which no model selects from)."""
    settings = catalog.settings()
    opened = catalog.open()
    catalogue = load_catalogue(settings.city.id)
    read = ingested_entities()  # the silver tables dbt's sources name (transforms/models/sources.yml)
    made = ensure_entity_tables(opened, catalogue, read) + ensure_network_tables(opened)
    if made:
        log.info("empty tables for entities no source has filled: %s", ", ".join(made))
    with connect(settings) as con:
        visible = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver'").fetchall()}
        if made or not set(read) <= visible:
            publish_views(con, opened, ("silver", "quarantine"))
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'reference'"
                           ).fetchone()[0]:
            publish_reference(con, catalogue)


def build_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    translator = SafeCityTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="daily_models", select=DAILY_MODELS, partitions_def=daily(), backfill_policy=SINGLE_RUN,
                pool=WAREHOUSE_POOL)
    def daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                     catalog: IcebergCatalogResource):
        days = partition_days(context)
        prepare_sources(catalog, context.log)
        context.log.info("dbt daily models for %s … %s (%d days)", days[0], days[-1], len(days))
        settings = catalog.settings()
        # The process starts inside the block and inherits the days; the stream is read after it.
        with partition_days_environment(days[0], days[-1] + dt.timedelta(days=1)):
            invocation = dbt.cli(build_args(dbt_vars(settings)), context=context,
                                 target_path=invocation_target(settings, "daily_models"))
        yield from invocation.stream()

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="analysis_models", exclude=DAILY_MODELS, pool=WAREHOUSE_POOL)
    def analysis_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                        catalog: IcebergCatalogResource):
        prepare_sources(catalog, context.log)
        settings = catalog.settings()
        yield from dbt.cli(build_args(dbt_vars(settings)), context=context,
                           target_path=invocation_target(settings, "analysis_models")).stream()

    return [daily_models, analysis_models, gold_assets(project)]


def gold_assets(project: DbtProject) -> dg.AssetsDefinition:
    """gold/<mart> for every mart of the manifest (published masked where a masked view exists, its raw rows then
    also to gold_restricted.<mart> for the data service's cleared clients: part of the same asset, as the same step
    writes both from the same build) and gold/row_scopes: one step, since every publication and the scopes read the
    same warehouse build."""
    nodes = json.loads(project.manifest_path.read_text(encoding="utf-8"))["nodes"].values()
    models = {(n["schema"], n.get("alias") or n["name"]) for n in nodes if n["resource_type"] == "model"}
    marts = sorted(name for schema, name in models if schema == MARTS)
    specs = [dg.AssetSpec([GOLD, mart], group_name=GOLD, kinds={"iceberg"}, owners=["team:analytics"],
                          deps=[[MARTS, mart], *([[MASKED, mart]] if (MASKED, mart) in models else [])],
                          description=f"{mart} 发布为 Iceberg 表（敏感列已脱敏）/ {mart} published as an Iceberg table "
                                      "(masked where the standards mark columns sensitive)") for mart in marts]
    scopes = dg.AssetSpec([GOLD, "row_scopes"], group_name=GOLD, kinds={"duckdb"}, owners=["team:analytics"],
                          deps=[[MARTS, mart] for mart in marts],
                          description="各分局、派出所的行级数据范围视图 scope_<单位> / Row-scope views per branch and "
                                      "station (scope_<unit>)")

    @dg.multi_asset(name="gold", specs=[*specs, scopes], pool=WAREHOUSE_POOL)
    def gold(context: dg.AssetExecutionContext, catalog: IcebergCatalogResource):
        report = publish(catalog.settings())
        context.log.info(report.summary())
        published = {p.mart: p for p in report.published}
        for mart in marts:
            if mart in published:
                yield dg.MaterializeResult(asset_key=[GOLD, mart], metadata={
                    "dagster/row_count": published[mart].rows, "masked": published[mart].masked,
                    "metadata_location": published[mart].metadata_location,
                    **({"restricted_location": published[mart].restricted_location}
                       if published[mart].restricted_location else {})})
        yield dg.MaterializeResult(asset_key=[GOLD, "row_scopes"], metadata={
            "scopes": len(report.scopes), "views": sum(len(v) for v in report.scopes.values())})

    return gold
