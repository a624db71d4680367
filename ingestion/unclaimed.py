"""Files in landing that no source mapping reads: delivered, yet never ingested, so never judged or counted.

A file is claimed when some mapping's folder and pattern select it (the same selection ingestion uses). The landing
clock (manifest.json at the root) belongs to the platform itself.
"""
from __future__ import annotations

from typing import Iterable

from safecity.ingestion.landing import CLOCK_FILE, Landing
from safecity.ingestion.mapping import SourceMapping


def unclaimed_files(landing: Landing, mappings: Iterable[SourceMapping]) -> list[str]:
    """Names (relative to the landing root) of the files no mapping selects, sorted."""
    claimed: set[str] = {CLOCK_FILE}
    for mapping in mappings:
        if mapping.landing is not None:
            claimed.update(landing.files(mapping.landing, mapping.pattern))
    return [name for name in landing.files("", "*") if name not in claimed]
