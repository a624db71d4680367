"""The dbt project as assets: every model downstream of the silver and reference assets it reads, dbt data tests as
asset checks; after the build, gold: the marts as Iceberg tables and the branches' row scopes.

Two steps over one manifest: the models tagged `daily` (the large facts and the views they read) in daily partitions
(defs/partitions.py), built for the run's days, and every other model, unpartitioned, built after them.
"""

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.orchestration.defs.partitions import DAILY, SINGLE_RUN, partition_days
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource
from safecity.transforms.dbt_vars import dbt_vars
from safecity.transforms.gold import create_row_scopes, publish_gold


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


def day_vars(days) -> dict[str, str]:
    """The dbt vars of a partition run (transforms/macros/daily_partitions.sql): first day, and the day after the
    last."""
    return {"day_from": days[0].isoformat(), "day_to": (days[-1] + dt.timedelta(days=1)).isoformat()}


def dbt_build_args(variables: Mapping[str, Any]) -> list[str]:
    # dbt unit tests run in CI (tests/transforms), not in every production build; data tests run and become checks.
    return ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(variables, ensure_ascii=False)]


def build_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    translator = SafeCityTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="daily_models", select=DAILY_MODELS, partitions_def=DAILY, backfill_policy=SINGLE_RUN,
                pool=WAREHOUSE_POOL)
    def daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, safecity: SafeCityResource):
        days = partition_days(context)
        context.log.info("dbt daily models for %s … %s (%d days)", days[0], days[-1], len(days))
        variables = {**dbt_vars(safecity.settings()), **day_vars(days)}
        yield from dbt.cli(dbt_build_args(variables), context=context).stream()

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="analysis_models", exclude=DAILY_MODELS, pool=WAREHOUSE_POOL)
    def analysis_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, safecity: SafeCityResource):
        settings = safecity.settings()
        yield from dbt.cli(dbt_build_args(dbt_vars(settings)), context=context).stream()
        # Gold, after a build that succeeded (a failed one raised above): the marts as Iceberg tables gold.<mart>
        # and each branch's row-scope views. Run inside this step so no other writer holds the warehouse between.
        if any(key.path[0] == "marts" for key in context.selected_asset_keys):
            with connect(settings) as con:
                published = publish_gold(con, open_catalog(settings))
                scopes = create_row_scopes(con, [d.code for d in settings.city.divisions])
            context.log.info("gold: %s; row scopes: %s",
                             ", ".join(f"{p.mart} ({p.rows} rows{', masked' if p.masked else ''})" for p in published),
                             ", ".join(sorted(scopes)))

    return [daily_models, analysis_models]
