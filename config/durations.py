"""Durations as policy files and site.yaml write them (`30s`, `15m`, `2h`, `7d`): one reading for both."""
from __future__ import annotations

DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d)$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    return int(text[:-1]) * _UNIT_SECONDS[text[-1]]
