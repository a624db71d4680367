"""A plain client of the board's event stream (text/event-stream): what a wall display without a browser, a
monitor, the benchmark and the tests read the board with."""
from __future__ import annotations

import json
import urllib.request
from typing import Iterator


def board_events(url: str, headers: dict | None = None, timeout: float = 30) -> Iterator[tuple[str | None, str, dict]]:
    """(id, event, data) of each server-sent event from `url` (the board's /events), comments skipped."""
    request = urllib.request.Request(url, headers={"Accept": "text/event-stream", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        event_id, name, data = None, "message", []
        for raw in response:
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if data:
                    yield event_id, name, json.loads("\n".join(data))
                event_id, name, data = None, "message", []
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
