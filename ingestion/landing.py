"""Where received files wait to be ingested: a local folder (embedded default) or an S3/MinIO bucket (production).

Ingestion sees only names relative to the landing root and the bytes behind them, so one code path serves both;
`uri` is what messages and lineage show a person (a path, or s3://bucket/key).
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Protocol

from safecity.config.profiles import Settings


class Landing(Protocol):
    def files(self, folder: str, pattern: str = "*") -> list[str]:
        """Names (relative to the landing root, '/'-separated) of the files in `folder` matching `pattern`, sorted."""

    def read(self, name: str) -> bytes:
        """The whole content of one file; OSError when it cannot be read."""

    def uri(self, name: str) -> str:
        """Where the file is, for a person."""


class LocalLanding:
    def __init__(self, root: Path):
        self.root = Path(root)

    def files(self, folder: str, pattern: str = "*") -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                      if p.is_file() and fnmatch.fnmatch(p.name, pattern))

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def uri(self, name: str) -> str:
        return str(self.root / name)


def open_landing(settings: Settings) -> Landing:
    """The landing area of the environment profile."""
    return LocalLanding(settings.paths.landing)
