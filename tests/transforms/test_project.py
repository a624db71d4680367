"""The dbt project as a whole: one lineage graph in Dagster (every source a silver or reference asset, dbt tests as
asset checks), docs that build, every model documented in Chinese and English, contracts on every mart, and the
scorecard configuration read strictly."""
import json
import re

import pytest
from ruamel.yaml import YAML

from safecity.config.yamlfile import YamlFileError
from safecity.transforms import PROJECT_DIR
from safecity.transforms.dbt_vars import load_scorecard

pytestmark = pytest.mark.integration
HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{2,}")


def model_documents():
    yaml = YAML(typ="safe")
    for path in sorted((PROJECT_DIR / "models").rglob("*.yml")):
        for model in (yaml.load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            yield path, model


def test_every_model_has_one_yaml_with_chinese_and_english_descriptions():
    sql = {p.stem for p in (PROJECT_DIR / "models").rglob("*.sql")}
    documented = {}
    for path, model in model_documents():
        assert model["name"] not in documented, f"{model['name']} documented twice"
        documented[model["name"]] = path
        assert path.stem == model["name"], path
        assert HAN.search(model["description"]) and LATIN.search(model["description"]), model["name"]
        for column in model.get("columns", []):
            text = column.get("description") or ""
            assert LATIN.search(text), (model["name"], column["name"])
            if not column["name"].endswith("_en"):
                assert HAN.search(text), (model["name"], column["name"])
    assert set(documented) == sql


def test_every_mart_has_an_enforced_contract_naming_all_its_columns(built, q):
    marts = {model["name"]: model for path, model in model_documents() if path.parent.name == "marts"}
    assert len(marts) >= 15
    for name, model in marts.items():
        assert model.get("config", {}).get("contract", {}).get("enforced") is True, name
        built_columns = [r[0] for r in q("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                         "'marts' AND table_name = ? ORDER BY ordinal_position", [name])]
        assert [c["name"] for c in model["columns"]] == built_columns, name
        assert all(c.get("data_type") for c in model["columns"]), name


def test_one_lineage_graph_sources_are_our_assets_and_dbt_tests_are_checks(built):
    from safecity.orchestration.definitions import build_definitions

    definitions = build_definitions(built["settings"])
    graph = definitions.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    materializable = {k.to_user_string() for k in graph.materializable_asset_keys}
    staging = [k for k in keys if k.startswith("staging/")]
    assert len(staging) >= 10
    for key in staging:
        parents = {p.to_user_string() for p in graph.get(next(k for k in graph.get_all_asset_keys()
                                                               if k.to_user_string() == key)).parent_keys}
        assert parents and parents <= materializable, (key, parents)  # every parent is an asset we build
    health = {"silver/snapshot_diagnosis", "silver/camera_state", "silver/camera_state_change"}
    assert health <= materializable
    checks = {c.asset_key.to_user_string() for c in graph.asset_check_keys}
    assert {"marts/mart_dispatch_intervals", "staging/stg_dispatch__alarm_calls", "gold_masked/fct_alarm_calls"} & checks
    assert "marts/mart_scorecard_district" in checks


def test_dbt_docs_build_on_the_simulated_warehouse(built):
    from safecity.transforms.invocation import run_dbt

    from safecity.lakehouse.warehouse import connect

    built["con"].close()  # dbt opens the warehouse for writing: no reader may hold it meanwhile
    try:
        completed = run_dbt(built["settings"], "docs", "generate")
    finally:
        built["con"] = connect(built["settings"], read_only=True)
    assert completed.returncode == 0, completed.stdout[-3000:]
    catalog = json.loads((built["settings"].paths.dbt_target / "catalog.json").read_text(encoding="utf-8"))
    assert "model.safecity.mart_scorecard_district" in catalog["nodes"]
    assert (built["settings"].paths.dbt_target / "index.html").exists()


def test_scorecard_weights_must_add_up_to_100_with_the_line_in_the_error(tmp_path):
    good = (PROJECT_DIR.parent / "config" / "scorecard.yaml").read_text(encoding="utf-8")
    assert sum(i.weight for i in load_scorecard().indicators) == 100
    bad = tmp_path / "scorecard.yaml"
    bad.write_text(good.replace("weight: 15, target: 1.0 }", "weight: 25, target: 1.0 }", 1), encoding="utf-8")
    with pytest.raises(YamlFileError, match="not 100"):
        load_scorecard(bad)
    bad.write_text(good.replace("id: hd_ratio", "id: hd_ration"), encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"scorecard.yaml:\d+"):
        load_scorecard(bad)


def test_key_places_are_checked_against_the_city_profile_with_the_line_in_the_error(tmp_path):
    from safecity.config.profiles import load_city
    from safecity.transforms.dbt_vars import load_key_places

    city = load_city("qinhuangdao")
    places = load_key_places(city)
    assert len({p.id for p in places}) == len(places) >= 20
    assert {p.division for p in places} == {d.code for d in city.divisions}  # every district has some
    good = (PROJECT_DIR.parent / "config" / "cities" / "qinhuangdao" / "key_places.yaml").read_text(encoding="utf-8")
    (tmp_path / "qinhuangdao").mkdir()
    bad = tmp_path / "qinhuangdao" / "key_places.yaml"
    bad.write_text(good.replace('division: "130324", lon: 118.873', 'division: "130399", lon: 117.873'),
                   encoding="utf-8")
    with pytest.raises(YamlFileError) as error:
        load_key_places(city, tmp_path)
    assert [(p.code, p.line) for p in error.value.problems] == [
        ("E_CODE", good[:good.index("130324\", lon: 118.873")].count("\n") + 1),
        ("E_OUT_OF_AREA", good[:good.index("130324\", lon: 118.873")].count("\n") + 1)]
    bad.write_text(good.replace("kind: hospital", "kind: hopsital", 1), encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"key_places.yaml:\d+: E_TYPE"):
        load_key_places(city, tmp_path)
