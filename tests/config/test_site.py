"""The site folder: a city anywhere (its own code system, zone and crs), a folder anywhere on disk, profiles given
as paths, and no silent fall-back to the shipped Qinhuangdao site."""
import shutil
from pathlib import Path

import pytest

from benchmarks.onboarding import make_site
from safecity.config.profiles import CityProfile, load_city, load_settings
from safecity.config.site import SITE_ENV, current_site, load_site
from safecity.config.site_scaffold import scaffold_site
from safecity.config.site import default_site
from safecity.config.yamlfile import YamlFileError



@pytest.fixture
def no_site(monkeypatch):
    """A test that activates a site gets the process's site back afterwards."""
    monkeypatch.delenv(SITE_ENV, raising=False)


def edinburgh_site(folder: Path) -> Path:
    """`site new` from the shipped site, then file edits only: the city, its key places, one mapping."""
    scaffold_site(folder, default_site())
    make_site(folder)
    return folder


CITY = {"id": "demo", "name_zh": "示例", "name_en": "Demo", "timezone": "America/Chicago", "grid_cell_m": 500,
        "extent": {"min_lon": -88.2, "max_lon": -87.5, "min_lat": 41.6, "max_lat": 42.1}}


def test_a_city_outside_china_declares_its_own_code_system_zone_and_crs():
    city = CityProfile.model_validate({**CITY, "code_system": "local", "code": "17031", "crs": "EPSG:3435",
                                       "divisions": [{"code": "D01", "name_zh": "一区", "name_en": "District 1",
                                                      "kind": "district", "urban": True, "centre": [-87.6, 41.9]}]})
    assert (city.code, city.gb2260, city.timezone, city.crs) == ("17031", None, "America/Chicago", "EPSG:3435")


def test_gb2260_cities_keep_their_rules_and_a_local_code_says_what_to_declare():
    division = {"name_zh": "区", "name_en": "D", "kind": "district", "urban": True, "centre": [0, 0]}
    with pytest.raises(ValueError, match="code_system: local"):
        CityProfile.model_validate({**CITY, "gb2260": "130300", "divisions": [{**division, "code": "D01"}]})
    with pytest.raises(ValueError, match="do not belong to city 130300"):
        CityProfile.model_validate({**CITY, "gb2260": "130300", "divisions": [{**division, "code": "110101"}]})
    with pytest.raises(ValueError, match="give the city's own code"):
        CityProfile.model_validate({**CITY, "code_system": "local", "divisions": [{**division, "code": "D01"}]})
    shipped = load_city("qinhuangdao")
    assert shipped.code == shipped.gb2260 == "130300"


def test_site_new_writes_bilingual_headers_and_the_copy_reads_like_the_original(tmp_path, no_site):
    written = scaffold_site(tmp_path / "site", default_site())
    yamls = [p for p in written if p.suffix == ".yaml"]
    assert {"site.yaml", "city.yaml", "scorecard.yaml", "local.yaml"} <= {p.name for p in yamls}
    for path in yamls:
        head = path.read_text(encoding="utf-8").split("\n", 2)[:2]
        assert head[0].startswith("#") and any("\u4e00" <= ch <= "\u9fff" for ch in "".join(head)), path
        assert any(ch.isascii() and ch.isalpha() for ch in "".join(head)), path
    settings = load_settings(home=tmp_path / "home", site=tmp_path / "site")
    assert settings.site.root == (tmp_path / "site").resolve() and not settings.site.default
    assert settings.city == load_city("qinhuangdao", Path(default_site().root / "cities"))
    with pytest.raises(FileExistsError):
        scaffold_site(tmp_path / "site", default_site())


def test_an_edited_site_serves_its_own_city_through_the_environment(tmp_path, monkeypatch, no_site):
    site = edinburgh_site(tmp_path / "edinburgh")
    monkeypatch.setenv(SITE_ENV, str(site))
    settings = load_settings(home=tmp_path / "home")
    assert (settings.city.id, settings.city.timezone, settings.city.code) == ("edinburgh", "Europe/London",
                                                                              "S12000036")
    assert current_site().sources_dir == site.resolve() / "sources"


def test_environment_and_city_given_as_paths(tmp_path, no_site):
    site = edinburgh_site(tmp_path / "edinburgh")
    elsewhere = tmp_path / "profiles"
    elsewhere.mkdir()
    shutil.copy(site / "city.yaml", elsewhere / "edinburgh.yaml")
    (elsewhere / "mine.yaml").write_text("name: mine\ncity: ./edinburgh.yaml\nstorage: {kind: local}\n"
                                         "catalog: {kind: sqlite}\n", encoding="utf-8")
    settings = load_settings(str(elsewhere / "mine.yaml"), tmp_path / "home", site=site)
    assert settings.environment.name == "mine" and settings.city.id == "edinburgh"
    assert settings.environment_file == elsewhere / "mine.yaml"
    (elsewhere / "bad.yaml").write_text("name: bad\ncity: ./nowhere.yaml\nstorage: {kind: local}\n"
                                        "catalog: {kind: sqlite}\n", encoding="utf-8")
    with pytest.raises(YamlFileError) as caught:
        load_settings(str(elsewhere / "bad.yaml"), tmp_path / "home", site=site)
    assert "bad.yaml:2" in str(caught.value) and "nowhere.yaml" in str(caught.value)


def test_a_folder_that_is_not_a_site_is_refused_not_replaced_by_the_default(tmp_path, monkeypatch, no_site):
    monkeypatch.setenv(SITE_ENV, str(tmp_path))
    with pytest.raises(YamlFileError, match="E_SITE"):
        load_settings(home=tmp_path / "home")
    with pytest.raises(YamlFileError, match="does not exist"):
        load_site(tmp_path / "missing")


def test_site_new_from_another_site_folder_keeps_its_city_packs_and_policies(tmp_path, no_site):
    first = edinburgh_site(tmp_path / "edinburgh")
    (first / "policies" / "own.yaml").write_text("id: own\n", encoding="utf-8")
    scaffold_site(tmp_path / "copy", load_site(first))
    copy = load_site(tmp_path / "copy")
    assert (copy.city, copy.policy_packs) == ("edinburgh", ("emergency",))
    assert (tmp_path / "copy" / "policies" / "own.yaml").read_text(encoding="utf-8") == "id: own\n"
    assert [p.name for p in (tmp_path / "copy" / "sources").glob("*.yaml")] == ["edinburgh_accidents_csv.yaml"]
    assert load_settings(home=tmp_path / "home", site=tmp_path / "copy").city.id == "edinburgh"


def test_allowed_lateness_is_the_sites_own_setting_and_site_new_carries_it(tmp_path, no_site):
    assert default_site().allowed_lateness_seconds == 15 * 60
    scaffold_site(tmp_path / "one", default_site())
    marker = tmp_path / "one" / "site.yaml"
    assert "allowed_lateness: 900s" in marker.read_text(encoding="utf-8")
    assert load_site(tmp_path / "one").allowed_lateness_seconds == 900
    marker.write_text(marker.read_text(encoding="utf-8").replace("allowed_lateness: 900s", "allowed_lateness: 2h"),
                      encoding="utf-8")
    assert load_site(tmp_path / "one").allowed_lateness_seconds == 7200
    scaffold_site(tmp_path / "two", load_site(tmp_path / "one"))
    assert load_site(tmp_path / "two").allowed_lateness_seconds == 7200
    marker.write_text(marker.read_text(encoding="utf-8").replace("allowed_lateness: 2h", "allowed_lateness: soon"),
                      encoding="utf-8")
    with pytest.raises(YamlFileError, match="allowed_lateness"):
        load_site(tmp_path / "one")
