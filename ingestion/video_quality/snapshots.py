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
