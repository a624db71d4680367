"""The code location's domains: one package per domain (cameras, traffic, incidents, cases, support, standards,
transforms, rules, lakehouse), each exposing `definitions(context) -> dg.Definitions` with its assets, checks, jobs
and schedules. definitions.py finds them by walking this package, so a new domain is a new folder, not an edit of
a list; what spans domains (ingestion sensors, source freshness, the main job) is built there from what they hold.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import dagster as dg
from dagster_dbt import DbtProject

from safecity.config.profiles import Settings
from safecity.standards.catalogue import Catalogue


@dataclass(frozen=True)
class DomainContext:
    """What a domain's definitions may depend on: the settings in force, their catalogue and the dbt project."""
    settings: Settings
    catalogue: Catalogue
    dbt: DbtProject


def domain_definitions(context: DomainContext) -> dict[str, dg.Definitions]:
    """Every domain package's definitions, by domain name."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{module.name}")
        if hasattr(package, "definitions"):
            found[module.name] = package.definitions(context)
    return found
