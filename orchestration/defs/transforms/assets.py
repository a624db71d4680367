"""The dbt project as assets: every model downstream of the silver and reference assets it reads."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from safecity.orchestration.resources import WAREHOUSE_POOL


class SafeCityTranslator(DagsterDbtTranslator):
    """Keys as `<schema>/<model>` (staging/…, marts/…), one group per layer, sources mapped onto our assets."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node["resource_type"] != "model":
            return spec
        return spec.replace_attributes(
            key=dg.AssetKey([node["schema"], node["name"]]),
            group_name=f"analysis_{node['schema']}",
            owners=["team:analytics"],
        )


def build_dbt_assets(project: DbtProject):
    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=SafeCityTranslator(),
                name="analysis_models", pool=WAREHOUSE_POOL)
    def analysis_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        # dbt unit tests run in CI (tests/transforms), not in every production build.
        yield from dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context).stream()

    return analysis_models
