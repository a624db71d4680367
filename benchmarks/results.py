"""Where a benchmark leaves its figures: `<out>/<name>.json`, beside the printed summary, for docs/benchmarks.md."""
from __future__ import annotations

import json
from pathlib import Path


def write_results(out: Path | None, name: str, summary: dict) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                      encoding="utf-8")
