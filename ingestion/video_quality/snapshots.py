"""Reading snapshot files: decoded straight to about the working width, and named by camera and time.

A 1920 x 1080 JPEG is decoded at a quarter of its size by libjpeg's scaled IDCT (cv2.IMREAD_REDUCED_COLOR_4), which
costs a fraction of a full decode; the measures are taken at 480 pixels wide anyway.
"""
import datetime as dt
import re
import struct
from pathlib import Path

import cv2
import numpy as np

from safecity.ingestion.video_quality.checks import WORK_WIDTH

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
# <20-digit GB/T 28181 device ID>_<HHMMSS>.jpg inside a YYYYMMDD folder, as the patrol sampler writes them.
_NAME = re.compile(r"^(?P<device>[0-9A-Za-z]+)_(?P<hms>\d{6})$")


class SnapshotError(ValueError):
    """A snapshot that cannot be read; the message names the file."""


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, without decoding; None if not found."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:                  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def decode_snapshot(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """BGR picture from image bytes, JPEG reduced by the largest factor that keeps it at least WORK_WIDTH wide."""
    flag = cv2.IMREAD_COLOR
    if data[:3] == b"\xff\xd8\xff":
        size = jpeg_size(data)
        if size:
            flag = next((f for factor, f in _REDUCED if size[0] // factor >= WORK_WIDTH), cv2.IMREAD_COLOR)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag) if data else None
    if image is None:
        raise SnapshotError(f"{name}: not a readable image (corrupt or not JPEG/PNG)")
    return image


def read_snapshot(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{path}: file not found") from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_snapshot(data, str(path))


def snapshot_name(path: str | Path) -> tuple[str | None, dt.datetime | None]:
    """(device ID, capture time) from <device>_<HHMMSS>.jpg in a YYYYMMDD folder; None for what the name lacks."""
    path = Path(path)
    match = _NAME.match(path.stem)
    if not match:
        return None, None
    try:
        day = dt.datetime.strptime(path.parent.name, "%Y%m%d")
        hms = match["hms"]
        when = day.replace(hour=int(hms[:2]), minute=int(hms[2:4]), second=int(hms[4:]))
    except ValueError:
        when = None
    return match["device"], when


class SnapshotIndexError(ValueError):
    """A sidecar index that cannot be read; the message names the file, the row and the field."""


INDEX_FIELDS = ("file", "device_id", "captured_at")


def read_index(path: str | Path) -> list[dict[str, object]]:
    """Rows of a sidecar index (a site's snapshot export listing): CSV with a header, or JSON (a list of objects),
    each with file (relative to the index), device_id and captured_at (ISO 8601); further columns are kept as text.
    Each row's file becomes a Path, its time a datetime. Raises SnapshotIndexError naming file, row and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SnapshotIndexError(f"{path}: cannot read the snapshot index ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".json":
        import json
        try:
            rows, first = json.loads(text), 1
        except ValueError as exc:
            raise SnapshotIndexError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SnapshotIndexError(f"{path}: expected a JSON list of objects with {', '.join(INDEX_FIELDS)}")
    else:
        import csv
        rows, first = list(csv.DictReader(text.splitlines())), 2     # line 1 is the header
    return [_index_row(path, number, row) for number, row in enumerate(rows, first)]


def _index_row(path: Path, number: int, row: dict) -> dict[str, object]:
    where = f"{path}: {'line' if path.suffix.lower() != '.json' else 'item'} {number}"
    for name in INDEX_FIELDS:
        if not str(row.get(name) or "").strip():
            raise SnapshotIndexError(f"{where}: field {name!r} is missing or empty")
    try:
        when = dt.datetime.fromisoformat(str(row["captured_at"]).strip())
    except ValueError:
        raise SnapshotIndexError(f"{where}: field 'captured_at' is not an ISO 8601 time: "
                                 f"{row['captured_at']!r}") from None
    return {**{k: (v if v is None else str(v)) for k, v in row.items()},
            "file": path.parent / str(row["file"]).strip(), "device_id": str(row["device_id"]).strip(),
            "captured_at": when}
