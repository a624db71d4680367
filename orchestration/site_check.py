"""`safecity site check`: every file of a site folder read as the platform reads it, every problem of every file
reported at once with its file and line — the city profile, key places, point levels, scorecard, environment
profiles, source mappings (against the standards with the site's own divisions) and policies."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safecity.config.site import Site, activate_site, load_site
from safecity.config.yamlfile import Located, YamlFileError


@dataclass
class SiteReport:
    site: Site | None
    problems: list[Located] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _collect(report: SiteReport, what: str, load: Callable[[], int], count: bool = True) -> bool:
    """Run one loader (counting what it loaded under `what`); its problems join the report (a bad file never hides
    the others)."""
    try:
        loaded = load()
        if count:
            report.counts[what] = loaded
        return True
    except YamlFileError as exc:
        report.problems.extend(exc.problems)
    except (ValueError, OSError) as exc:
        report.problems.append(Located(what, None, "", "E_SITE", str(exc)))
    return False


def _city_files(report: SiteReport, site: Site) -> bool:
    from safecity.config.point_levels import load_point_levels
    from safecity.config.profiles import load_city
    from safecity.transforms.dbt_vars import load_key_places, load_scorecard
    if not _collect(report, "city", lambda: len(load_city(site.city).divisions)):
        return False
    city = load_city(site.city)
    _collect(report, "key_places", lambda: len(load_key_places(city)))
    _collect(report, "point_levels", lambda: int(bool(load_point_levels(city.id))))
    if site.scorecard_file.exists():
        _collect(report, "scorecard", lambda: len(load_scorecard(site.scorecard_file).indicators))
    return True


def _environments(report: SiteReport, site: Site) -> None:
    from safecity.config.profiles import load_environment, load_settings
    names = sorted(p.stem for p in site.environments_dir.glob("*.yaml"))
    if site.default_environment not in names:
        report.problems.append(Located(str(site.root / "site.yaml"), None, "/default_environment", "E_PROFILE",
                                       f"默认环境不存在 / no environments/{site.default_environment}.yaml; "
                                       f"known: {names}"))
    for name in names:
        _collect(report, f"environment {name}", lambda n=name: int(bool(load_environment(n)[0])))
    if site.default_environment in names:
        _collect(report, "settings", lambda: int(bool(load_settings(site.default_environment, site=site))))


def _mappings(report: SiteReport, site: Site) -> None:
    from safecity.ingestion.mapping import load_mapping
    from safecity.standards.catalogue import load_catalogue
    catalogue = load_catalogue(site.city)
    paths = sorted(site.sources_dir.glob("*.yaml"))
    report.counts["mappings"] = sum(_collect(report, str(p), lambda p=p: int(bool(load_mapping(p, catalogue))),
                                             count=False) for p in paths)


def _policies(report: SiteReport, site: Site) -> None:
    from safecity.rules.loader import site_policies
    from safecity.standards.catalogue import load_catalogue
    _collect(report, "policies", lambda: len(site_policies(site, load_catalogue(site.city))))


def check_site(folder: Path) -> SiteReport:
    """Every problem of the site folder at `folder`; it becomes the process's site (the checks read through it)."""
    report = SiteReport(None)
    try:
        report.site = activate_site(load_site(folder))
    except YamlFileError as exc:
        report.problems.extend(exc.problems)
        return report
    if _city_files(report, report.site):
        _environments(report, report.site)
        _mappings(report, report.site)
        _policies(report, report.site)
    return report
