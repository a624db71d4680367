"""The site's watched junctions (config/junctions.py): the shipped list agrees with the simulator's junctions, and a
wrong entry is reported with the file's line and the field."""
import pytest

from safecity.config.junctions import load_junctions
from safecity.config.profiles import CONFIG_DIR, load_city
from safecity.config.yamlfile import YamlFileError
from safecity.simulator.world import load_profile

SHIPPED = CONFIG_DIR / "cities" / "qinhuangdao" / "junctions.yaml"


def test_the_shipped_junctions_are_the_simulated_citys_with_the_same_ids_and_positions():
    city = load_city("qinhuangdao")
    shipped = {j.id: (j.division, j.lon, j.lat) for j in load_junctions(city)}
    simulated = {j.id: (j.division, j.lon, j.lat) for j in load_profile("qinhuangdao").junctions}
    assert shipped == simulated and len(shipped) >= 5


def test_a_junction_outside_the_city_or_listed_twice_is_reported_with_its_line(tmp_path):
    city = load_city("qinhuangdao")
    good = SHIPPED.read_text(encoding="utf-8")
    (tmp_path / "qinhuangdao").mkdir()
    bad = tmp_path / "qinhuangdao" / "junctions.yaml"
    bad.write_text(good.replace('division: "130322", lon: 119.1660', 'division: "130399", lon: 117.1660')
                   .replace("id: J002,", "id: J001,"), encoding="utf-8")
    with pytest.raises(YamlFileError) as error:
        load_junctions(city, tmp_path)
    line = good[:good.index("id: J006")].count("\n") + 1
    twice = good[:good.index("id: J002")].count("\n") + 1
    assert sorted((p.code, p.line) for p in error.value.problems) == sorted(
        [("E_CODE", line), ("E_OUT_OF_AREA", line), ("E_DUPLICATE_KEY", twice)])
    bad.write_text(good.replace("approach_m: 400 }", "approach_m: -5 }", 1), encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"junctions.yaml:\d+"):
        load_junctions(city, tmp_path)
    assert load_junctions(city, tmp_path / "elsewhere") == []  # a city without the file watches none
