"""`safecity site new`: a site folder made from an existing site (the shipped Qinhuangdao one by default), every
file with a header in Chinese and English saying what it holds and what to change for another city."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from safecity.config.site import PACKS_DIR, SITE_FILE, Site

# (file in the new site, header): what each file is, for the engineer who edits it for their city.
HEADERS = {
    "city.yaml": "城市档案：行政区划（GB/T 2260，或境外城市在此声明的本地代码 code_system: local）、时区、范围、坐标系、网格。\n"
                 "City profile: divisions (GB/T 2260 codes, or a local code system declared with code_system: local and\n"
                 "the city's `code`), IANA time zone (every mart counts days and hours in it), extent (WGS-84), crs\n"
                 "(EPSG code of the city's own exports), grid cell size. Its `id` is the `city` of site.yaml.",
    "key_places.yaml": "重点场所：其视频覆盖率参与考核；division 为本城市的区划代码，位置为 WGS-84。\n"
                       "Key places whose video coverage is scored; `division` is one of city.yaml's codes, positions "
                       "WGS-84.",
    "point_levels.yaml": "点位重要程度规则 / Which camera points are key or important (GB/T 28181 use/position types).",
    "scorecard.yaml": "评分卡：指标、权重（合计 100）与目标 / Scorecard: indicators, weights (adding up to 100), targets.",
    "clients.yaml": "数据服务的下游客户端：可读的表、辖区（行级范围）、密级；只存密钥的哈希（safecity serve --new-secret）。\n"
                    "Downstream clients of the data service: tables they may read, jurisdiction (row scope), clearance; "
                    "secrets\nas hashes only (issue one with `safecity serve --new-secret`).",
    "environments/": "环境档案：存储、目录、消息；city 省略时即站点的城市，密钥只写环境变量名。\n"
                     "Environment profile: storage, catalog, Kafka. Leave `city` out to use the site's city; secrets "
                     "are named by environment variable, never written here.",
    "sources/": "数据源映射：把本地系统的导出文件映射到标准实体；新增一个文件即新增一个数据源（Dagster 重新加载后可见）。\n"
                "Source mapping: turns one of your systems' exports into a standard entity. A new file here is a new "
                "source\n(it appears in Dagster after a reload, no code).",
}
SITE_TEMPLATE = """\
# 站点目录 / Site folder: everything that is this deployment's own, as files. Made by `safecity site new`
# from {origin}. Check it with `safecity site check {folder}`; use it with `--site {folder}` or SAFECITY_SITE.
#
# id:                   站点标识 / the site's id (lower case, a–z 0–9 _)
# city:                 城市档案 city.yaml 中的 id / the `id` in city.yaml
# default_environment:  environments/ 中默认使用的环境 / the profile of environments/ used when --env is not given
# policy_packs:         启用的内置策略包 / shipped policy packs enabled here ({packs});
#                       站点自有策略放在 policies/ / the site's own policies go in policies/
# allowed_lateness:     容许迟到：晚于引擎时钟多久的事件仍被评估（30s, 15m, 2h），更晚的计数并记入 ops.late_events
#                       / how late an event may arrive and still be evaluated; later ones are counted and kept
id: {site_id}
name_zh: {name_zh}
name_en: {name_en}
city: {city}
default_environment: local
policy_packs: [{enabled}]
allowed_lateness: {lateness}
"""
POLICIES_README = """\
# 站点策略 / Site policies

本目录中的策略文件（YAML，格式同 rules/policies/）与 site.yaml 中启用的策略包一起生效。
Policy files here (YAML, the format of rules/policies/) are in force together with the packs site.yaml enables.
Check them with `safecity rules check {folder}/policies`.
"""


def _with_header(text: str, header: str) -> str:
    lines = "\n".join(f"# {line}" if line else "#" for line in header.splitlines())
    return f"{lines}\n#\n{text}"


def _copy(source: Path, target: Path, header: str, transform=lambda text: text) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_with_header(transform(source.read_text(encoding="utf-8")), header), encoding="utf-8")


def _without_city(text: str) -> str:
    # A site's environment profiles serve the site's city: the line naming it goes, a note says why.
    return re.sub(r"(?m)^city:.*$", "# city: 省略即站点的城市 / left out: the site's city (site.yaml)", text)


def scaffold_site(folder: Path, origin: Site) -> list[Path]:
    """Write a new site folder at `folder` (which must not exist or be empty) from the site `origin`."""
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder}: 目录非空 / is not empty; give a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    _copy(origin.city_file, folder / "city.yaml", HEADERS["city.yaml"])
    for name in ("key_places.yaml", "point_levels.yaml"):
        if (origin.city_dir / name).exists():
            _copy(origin.city_dir / name, folder / name, HEADERS[name])
    if (origin.city_dir / "codes").is_dir():
        shutil.copytree(origin.city_dir / "codes", folder / "codes")
    if origin.scorecard_file.exists():
        _copy(origin.scorecard_file, folder / "scorecard.yaml", HEADERS["scorecard.yaml"])
    if origin.clients_file.exists():
        _copy(origin.clients_file, folder / "clients.yaml", HEADERS["clients.yaml"])
    for directory, header, transform in (("environments", HEADERS["environments/"], _without_city),
                                         ("sources", HEADERS["sources/"], lambda text: text)):
        for path in sorted((origin.root / directory).glob("*.yaml")):
            _copy(path, folder / directory / path.name, header, transform)
    (folder / "policies").mkdir(exist_ok=True)
    (folder / "policies" / "README.md").write_text(POLICIES_README.format(folder=folder), encoding="utf-8")
    if not origin.default and origin.policies_dir.is_dir():
        for path in sorted(origin.policies_dir.glob("*.yaml")):
            shutil.copy2(path, folder / "policies" / path.name)
    packs = sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir())
    enabled = packs if origin.default else list(origin.policy_packs)
    site_id = re.sub(r"[^a-z0-9_]", "_", folder.resolve().name.lower()).strip("_") or "site"
    site_id = site_id if site_id[0].isalpha() else f"site_{site_id}"
    (folder / SITE_FILE).write_text(SITE_TEMPLATE.format(
        origin=origin.root if not origin.default else f"the shipped {origin.city} site", folder=folder,
        packs=", ".join(packs), site_id=site_id, name_zh=f"{site_id} 站点", name_en=f"{site_id} site",
        city=origin.city, enabled=", ".join(enabled),
        lateness=f"{origin.allowed_lateness_seconds}s"), encoding="utf-8")
    return sorted(p for p in folder.rglob("*") if p.is_file())
