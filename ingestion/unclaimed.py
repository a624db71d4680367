"""Files in landing that no source mapping reads: delivered, yet never ingested, so never judged or counted.

A file is claimed when some mapping's folder and pattern select it (the same selection ingestion uses), or when it
is in a folder another reader owns (the snapshots the video-quality diagnosis reads). The landing clock
(manifest.json at the root) belongs to the platform itself.
"""
from __future__ import annotations

from typing import Iterable

from safecity.config.yamlfile import YamlFileError, load_yaml, parse_model
from safecity.ingestion.landing import CLOCK_FILE, Landing
from safecity.config.site import current_site
from safecity.ingestion.mapping import SourceMapping
from safecity.ingestion.video_quality.landing_batch import SNAPSHOTS

OTHER_READERS = (SNAPSHOTS,)


def unclaimed_files(landing: Landing, mappings: Iterable[SourceMapping],
                    other_readers: Iterable[str] = OTHER_READERS) -> list[str]:
    """Names (relative to the landing root) of the files no mapping selects and no other reader owns, sorted."""
    claimed: set[str] = {CLOCK_FILE}
    for mapping in mappings:
        if mapping.landing is not None:
            claimed.update(landing.files(mapping.landing, mapping.pattern))
    owned = tuple(f"{folder.strip('/')}/" for folder in other_readers)
    return [name for name in landing.files("", "*") if name not in claimed and not name.startswith(owned)]


def source_mappings() -> list[SourceMapping]:
    """The deployment's source mappings that load (one that does not is reported where it is used, not here)."""
    found = []
    for path in sorted(current_site().sources_dir.glob("*.yaml")):
        try:
            found.append(parse_model(load_yaml(path), SourceMapping))
        except YamlFileError:
            continue
    return found
