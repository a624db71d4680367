"""The site folder (站点目录): the one place a deployment keeps what is its own — its city profile, key places, point
levels, city code tables, source mappings, policy packs and site policies, scorecard and environment profiles.

Two layouts are read:
- a site folder anywhere on disk (written by `safecity site new`), with `site.yaml` at its root and the city's files
  beside it (city.yaml, key_places.yaml, point_levels.yaml, codes/, sources/, policies/, scorecard.yaml,
  environments/);
- the default site, the package's own config/ (Qinhuangdao), whose city files live under config/cities/<city>.

One process serves one site: the one named by `--site DIR`, else by $SAFECITY_SITE, else the default. The choice is
kept in $SAFECITY_SITE so that the processes the platform starts (dbt, Dagster's run workers) read the same site.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from safecity.config.yamlfile import Located, YamlFileError, load_yaml, parse_model
from safecity.config.durations import duration_seconds  # the policy files' durations (15m), read the same way

CONFIG_DIR = Path(__file__).parent
SITE_ENV = "SAFECITY_SITE"
SITE_FILE = "site.yaml"
# Policy packs shipped with the platform (rules/policies/<pack>/); a site enables the ones it wants.
PACKS_DIR = CONFIG_DIR.parent / "rules" / "policies"
# How long after the rule engine's clock an event may arrive and still be evaluated (safecity.rules.lateness);
# the default site's value, and a site folder's when its site.yaml does not say.
DEFAULT_ALLOWED_LATENESS = "15m"


class SiteFile(BaseModel):
    """site.yaml: what the folder is and which of the shipped policy packs it enables."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    city: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    default_environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = "local"
    policy_packs: tuple[str, ...] = ()
    # 容许迟到 / allowed lateness of events for the rule engine (batch and stream): 30s, 15m, 2h
    allowed_lateness: Annotated[str, Field(pattern=r"^[0-9]+(s|m|h|d)$")] = DEFAULT_ALLOWED_LATENESS


@dataclass(frozen=True)
class Site:
    """Where one deployment's files are. `default` is the package's own config/ (the shipped Qinhuangdao site)."""

    root: Path
    city: str
    default_environment: str = "local"
    policy_packs: tuple[str, ...] = ()
    default: bool = False
    allowed_lateness_seconds: int = duration_seconds(DEFAULT_ALLOWED_LATENESS)

    @property
    def city_file(self) -> Path:
        return self.root / "cities" / f"{self.city}.yaml" if self.default else self.root / "city.yaml"

    @property
    def city_dir(self) -> Path:
        """Key places, point levels and the city's own code tables (codes/)."""
        return self.root / "cities" / self.city if self.default else self.root

    @property
    def sources_dir(self) -> Path:
        return self.root / "sources"

    @property
    def environments_dir(self) -> Path:
        return self.root / "environments"

    @property
    def scorecard_file(self) -> Path:
        return self.root / "scorecard.yaml"

    @property
    def clients_file(self) -> Path:
        """The data service's downstream clients and their rights (service/clients.py)."""
        return self.root / "clients.yaml"

    @property
    def policies_dir(self) -> Path:
        """The site's own policies (besides the packs it enables); the default site's are the shipped packs."""
        return PACKS_DIR if self.default else self.root / "policies"

    def policy_dirs(self) -> list[Path]:
        """Every folder of policies in force: the enabled packs, then the site's own."""
        if self.default:
            return [PACKS_DIR]
        own = [self.policies_dir] if self.policies_dir.is_dir() else []
        return [PACKS_DIR / pack for pack in self.policy_packs] + own


def default_site() -> Site:
    return Site(CONFIG_DIR, "qinhuangdao", default=True)


def load_site(path: str | Path) -> Site:
    """The site folder at `path`, or a clear error naming the folder and what is missing."""
    root = Path(path).expanduser().resolve()
    if root == CONFIG_DIR.resolve():
        return default_site()
    marker = root / SITE_FILE
    if not marker.is_file():
        what = "不存在 / does not exist" if not root.exists() else f"没有 {SITE_FILE} / has no {SITE_FILE}"
        raise YamlFileError([Located(str(root), None, "", "E_SITE",
                                     f"站点目录{what}; a site folder is made by `safecity site new DIR`")])
    described = parse_model(load_yaml(marker), SiteFile)
    unknown = [p for p in described.policy_packs if not (PACKS_DIR / p).is_dir()]
    if unknown:
        known = sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir())
        raise YamlFileError([load_yaml(marker).problem("/policy_packs", "E_PACK",
                                                       f"未知策略包 / unknown policy packs {unknown}; known: {known}")])
    return Site(root, described.city, described.default_environment, described.policy_packs,
                allowed_lateness_seconds=duration_seconds(described.allowed_lateness))


def current_site() -> Site:
    """The process's site: $SAFECITY_SITE, else the default."""
    chosen = os.environ.get(SITE_ENV)
    return load_site(chosen) if chosen else default_site()


def activate_site(site: Site) -> Site:
    """Make `site` the process's site (and its children's: dbt, Dagster run workers)."""
    if site.default:
        os.environ.pop(SITE_ENV, None)
    else:
        os.environ[SITE_ENV] = str(site.root)
    return site
