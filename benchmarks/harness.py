"""What every benchmark's command line shares: the folder it works in, and where it leaves its figures."""
from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def work_folder(given: Path | None, prefix: str) -> Iterator[Path]:
    """`given` (created if missing, kept: simulated days are reused between runs), or a temporary folder removed
    when the benchmark ends, whether it succeeded or not."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if given is None:
            shutil.rmtree(work, ignore_errors=True)


def write_results(out: Path | None, name: str, summary: dict) -> None:
    """`<out>/<name>.json`, beside the printed summary, for docs/benchmarks.md."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                      encoding="utf-8")


def method_summaries(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per method, the medians of its interleaved runs (rows/s, seconds), its peak memory over them and its rows."""
    return {method: {"median_rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
                     "median_seconds": statistics.median(r["seconds"] for r in runs),
                     "peak_mb": max(r["peak_mb"] for r in runs), "rows": runs[0]["rows"]}
            for method, runs in results.items()}
