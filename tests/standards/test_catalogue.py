import pytest

from safecity.standards.catalogue import Entity, load_catalogue
from safecity.standards.publish import reference_tables


def test_catalogue_links_elements_to_code_tables(catalogue):
    camera = catalogue.entities["camera"]
    assert camera.element("type_code").code_table == "gb28181_device_type"
    assert "132" in catalogue.code_tables["gb28181_device_type"].codes_set()
    assert catalogue.code_tables["city_divisions"].codes_set() == {d.code for d in catalogue.city.divisions} | {"130300"}
    assert catalogue.code_tables["city_divisions"].label_zh("130300") == "秦皇岛市（市本级）"
    assert catalogue.code_tables["gb28181_device_type"].label_zh("118") == "网络视频录像机（NVR）"


def test_every_reason_code_has_both_languages(catalogue):
    for code in catalogue.code_tables["reasons"].codes:
        assert code.code.startswith("E_") and code.name_zh and code.name_en


def test_entity_rejects_references_to_unknown_elements():
    with pytest.raises(ValueError, match="unknown elements"):
        Entity.model_validate({
            "entity": "x", "name_zh": "x", "name_en": "x", "standard": "s", "key": ["missing"],
            "elements": [{"id": "a", "name_zh": "a", "name_en": "a", "type": "string", "sensitivity": "public",
                          "source": "s"}]})


def test_reference_tables_come_from_the_catalogue(catalogue):
    tables = reference_tables(catalogue)
    assert tables["divisions"].num_rows == 8
    haigang = [r for r in tables["divisions"].to_pylist() if r["division_code"] == "130302"][0]
    assert haigang["is_urban"] is True and haigang["kind"] == "district" and haigang["centre_lon"] == 119.596
    codes = tables["code_values"].to_pylist()
    assert sum(t.codes.__len__() for t in catalogue.code_tables.values()) == len(codes)
    assert {"table_id": "gb28181_use_type", "code": "3", "name_zh": "重点", "name_en": "Key point",
            "code_group": None, "editions": None} in codes


def test_catalogue_is_cached_per_city():
    assert load_catalogue("qinhuangdao") is load_catalogue("qinhuangdao")
