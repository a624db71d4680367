"""The ground truth: every injected fault, with the record's key and the reason the platform should give, and the
rare situations the day holds on purpose (a level-III accident, an overdue repair of a key camera, a junction's
severe congestion episode, ...), with what they concern, and per shipped policy the actions the day must produce
(simulator.ground_truth), so a test knows what the policies must act on."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Manifest:
    seed: int
    scale: str
    start: str
    days: int
    # The data's "now" (ISO, with offset): checks of the simulated files run on this clock, not the wall clock.
    clock: str | None = None
    files: dict[str, dict] = field(default_factory=dict)
    faults: list[dict] = field(default_factory=list)
    situations: list[dict] = field(default_factory=list)
    # Per shipped policy id, the actions the day must produce (simulator.ground_truth): {"predictable": true,
    # "actions": [{"action", "key" (the policy's partition key), "params" (a subset), "at" (ISO, optional)}]}, or
    # {"predictable": false, "why": ...} where the simulator cannot know.
    expected_actions: dict[str, dict] = field(default_factory=dict)
    # The network faults planted (simulator.network): each with its element, spans, root cause and the cameras it
    # took offline. Not record faults: their telemetry conforms, and the cameras' silence is not a camera fault.
    network_faults: list[dict] = field(default_factory=list)
    # The generators' in-memory records the ground truth is computed from (kind -> records); not written.
    records: dict[str, list] = field(default_factory=dict, repr=False)

    def file(self, relative: str, kind: str, records: int, **extra) -> None:
        """A written file: its kind (catalog_csv, passes_json, ...) and how many records it holds."""
        self.files[relative] = {"kind": kind, "records": records, **extra}

    def fault(self, kind: str, file: str, key: str, reason: str | None, field_name: str | None = None,
              line: int | None = None, **extra) -> None:
        entry = {"kind": kind, "file": file, "key": key, "reason": reason}
        if field_name:
            entry["field"] = field_name
        if line is not None:
            entry["line"] = line
        entry.update(extra)
        self.faults.append(entry)

    def situation(self, kind: str, key: str, file: str | None = None, **details) -> None:
        """A situation put into the day on purpose (not a fault: its records conform): its kind, the key of what
        it concerns (a record, a junction, an account ...), the file it is in, and what a reader needs to check
        for it (times as ISO with offset)."""
        self.situations.append({"kind": kind, "key": key, **({"file": file} if file else {}), **details})

    def keep(self, kind: str, records: list) -> None:
        """Hold generated records (dicts naming their `file`) for the ground truth of the policies."""
        self.records.setdefault(kind, []).extend(records)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f["kind"] for f in self.faults).items()))

    def write(self, out: Path) -> Path:
        path = out / "manifest.json"
        document = {"seed": self.seed, "scale": self.scale, "start": self.start, "days": self.days, "clock": self.clock,
                    "files": dict(sorted(self.files.items())), "fault_counts": self.counts(),
                    "faults": sorted(self.faults, key=lambda f: (f["file"], f.get("line") or 0, f["key"], f["kind"])),
                    "situations": sorted(self.situations, key=lambda s: (s["kind"], s["key"], json.dumps(s, sort_keys=True))),
                    "network_faults": sorted(self.network_faults, key=lambda f: (f["from"], f["element_id"])),
                    "expected_actions": dict(sorted(self.expected_actions.items()))}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return path
