"""Writing files the way the bureau's systems do, deterministically (fixed order, fixed formatting)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

UTF8_BOM = b"\xef\xbb\xbf"


def relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix()


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_encoded(path: Path, text: str, encoding: str) -> None:
    """`encoding` is "gb18030" or "utf-8-bom" (the two the video platform's export actually uses)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = UTF8_BOM + text.encode("utf-8") if encoding == "utf-8-bom" else text.encode(encoding)
    path.write_bytes(data)


def write_json(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
