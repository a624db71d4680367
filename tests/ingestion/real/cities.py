"""City profiles for onboarding other cities' real exports in tests: the standards catalogue with another city.

Part of what a site folder brings (issue 16 part A); here only as much as the camera checks need: the extent that
positions are judged against and the divisions allocated IDs are placed in."""
from safecity.config.profiles import CityProfile
from safecity.standards.catalogue import Catalogue, _city_divisions

HONG_KONG = CityProfile(
    id="hong_kong", name_zh="香港特别行政区", name_en="Hong Kong", province_zh="香港特别行政区", gb2260="810000",
    timezone="Asia/Hong_Kong", plate_prefix="港", grid_cell_m=500,
    extent={"min_lon": 113.8, "max_lon": 114.45, "min_lat": 22.13, "max_lat": 22.58},
    divisions=[
        {"code": "810001", "name_zh": "中西区", "name_en": "Central and Western", "kind": "district", "urban": True,
         "centre": [114.154, 22.286]},
        {"code": "810005", "name_zh": "油尖旺区", "name_en": "Yau Tsim Mong", "kind": "district", "urban": True,
         "centre": [114.171, 22.311]},
        {"code": "810016", "name_zh": "沙田区", "name_en": "Sha Tin", "kind": "district", "urban": True,
         "centre": [114.191, 22.383]},
    ])

# Maryland has no GB/T 2260 code; 99xx00 is a local code the test declares (part A brings declared local codes).
MARYLAND = CityProfile(
    id="maryland", name_zh="马里兰州", name_en="Maryland", province_zh="美国", gb2260="990100",
    timezone="America/New_York", plate_prefix="MD", grid_cell_m=500,
    extent={"min_lon": -79.5, "max_lon": -75.0, "min_lat": 37.8, "max_lat": 39.8},
    divisions=[
        {"code": "990101", "name_zh": "巴尔的摩", "name_en": "Baltimore", "kind": "district", "urban": True,
         "centre": [-76.61, 39.29]},
        {"code": "990102", "name_zh": "蒙哥马利县", "name_en": "Montgomery County", "kind": "county", "urban": False,
         "centre": [-77.2, 39.14]},
    ])

WUHU = CityProfile(
    id="wuhu", name_zh="芜湖市", name_en="Wuhu", province_zh="安徽省", gb2260="340200", timezone="Asia/Shanghai",
    plate_prefix="皖B", grid_cell_m=500, extent={"min_lon": 117.6, "max_lon": 118.7, "min_lat": 30.3, "max_lat": 31.6},
    divisions=[{"code": "340202", "name_zh": "镜湖区", "name_en": "Jinghu District", "kind": "district",
                "urban": True, "centre": [118.385, 31.340]}])

SHIJIAZHUANG = CityProfile(
    id="shijiazhuang", name_zh="石家庄市", name_en="Shijiazhuang", province_zh="河北省", gb2260="130100",
    timezone="Asia/Shanghai", plate_prefix="冀A", grid_cell_m=500,
    extent={"min_lon": 113.5, "max_lon": 115.5, "min_lat": 37.4, "max_lat": 38.8},
    divisions=[
        {"code": "130102", "name_zh": "长安区", "name_en": "Chang'an District", "kind": "district", "urban": True,
         "centre": [114.539, 38.037]},
        {"code": "130104", "name_zh": "桥西区", "name_en": "Qiaoxi District", "kind": "district", "urban": True,
         "centre": [114.462, 38.004]},
        {"code": "130105", "name_zh": "新华区", "name_en": "Xinhua District", "kind": "district", "urban": True,
         "centre": [114.463, 38.051]},
        {"code": "130108", "name_zh": "裕华区", "name_en": "Yuhua District", "kind": "district", "urban": True,
         "centre": [114.531, 38.006]},
    ])


def catalogue_for(catalogue: Catalogue, city: CityProfile) -> Catalogue:
    tables = dict(catalogue.code_tables) | {"city_divisions": _city_divisions(city)}
    return catalogue.model_copy(update={"city": city, "code_tables": tables})
