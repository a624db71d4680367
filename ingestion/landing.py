"""Where received files wait to be ingested: a local folder (embedded default) or an S3/MinIO bucket (production).

Ingestion sees only names relative to the landing root and the bytes behind them, so one code path serves both;
`uri` is what messages and lineage show a person (a path, or s3://bucket/key).
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from pathlib import Path
from typing import Protocol

from safecity.config.profiles import S3Storage, Settings


class Landing(Protocol):
    def files(self, folder: str, pattern: str = "*") -> list[str]:
        """Names (relative to the landing root, '/'-separated) of the files in `folder` matching `pattern`, sorted."""

    def arrivals(self, folder: str, pattern: str = "*") -> dict[str, float]:
        """The same files with when each arrived (POSIX seconds): what a sensor's watermark is kept on."""

    def read(self, name: str) -> bytes:
        """The whole content of one file; OSError when it cannot be read."""

    def uri(self, name: str) -> str:
        """Where the file is, for a person."""


class LocalLanding:
    def __init__(self, root: Path):
        self.root = Path(root)

    def files(self, folder: str, pattern: str = "*") -> list[str]:
        return sorted(self.arrivals(folder, pattern))

    def arrivals(self, folder: str, pattern: str = "*") -> dict[str, float]:
        """Files under `folder` with their arrival times; a folder or a file (a symbolic link) that leads out of the
        landing root is never listed, so a mapping cannot read /etc/passwd into bronze."""
        root = self.root.resolve()
        base = self.root / folder
        if not _inside(base, root):
            raise ValueError(f"landing folder {folder!r} leads out of the landing root {self.root}")
        if not base.is_dir():
            return {}
        # ctime as well as mtime: a file moved into landing keeps its old mtime, but its ctime is the move.
        return {p.relative_to(self.root).as_posix(): max((st := p.stat()).st_mtime, st.st_ctime)
                for p in base.rglob("*") if p.is_file() and fnmatch.fnmatch(p.name, pattern) and _inside(p, root)}

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def uri(self, name: str) -> str:
        return str(self.root / name)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


class BucketLanding:
    """Objects under `landing/` in an S3/MinIO bucket; names are keys relative to that prefix."""

    PREFIX = "landing/"

    def __init__(self, client, bucket: str):
        self.client = client  # a minio.Minio
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> "BucketLanding":
        from minio import Minio

        storage = settings.environment.storage
        # Minio() wants host:port without scheme and addresses non-AWS endpoints path-style, as MinIO expects.
        client = Minio(settings.secret("/storage/endpoint_env"), access_key=settings.secret("/storage/access_key_env"),
                       secret_key=settings.secret("/storage/secret_key_env"), secure=storage.secure)
        return cls(client, storage.bucket)

    def files(self, folder: str, pattern: str = "*") -> list[str]:
        return sorted(self.arrivals(folder, pattern))

    def arrivals(self, folder: str, pattern: str = "*") -> dict[str, float]:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        # The empty folder is the whole landing area.
        prefix = self.PREFIX + (f"{folder.strip('/')}/" if folder.strip("/") else "")
        try:
            # An object's last_modified is when its upload completed: its arrival.
            items = {item.object_name: item.last_modified.timestamp()
                     for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)}
        except S3Error as exc:
            raise OSError(f"cannot list s3://{self.bucket}/{prefix}: {exc.code} {exc.message} "
                          f"(check that the bucket exists and the profile's keys may read it)") from exc
        except HTTPError as exc:
            raise OSError(f"cannot list s3://{self.bucket}/{prefix}: {exc} (is the S3 endpoint up?)") from exc
        return {key[len(self.PREFIX):]: at for key, at in items.items()
                if not key.endswith("/") and fnmatch.fnmatch(key.rsplit("/", 1)[-1], pattern)}

    def read(self, name: str) -> bytes:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            response = self.client.get_object(self.bucket, self.PREFIX + name)
        except S3Error as exc:
            raise OSError(f"cannot read {self.uri(name)}: {exc.code} {exc.message}") from exc
        except HTTPError as exc:  # not an OSError: the endpoint is down or unreachable
            raise OSError(f"cannot read {self.uri(name)}: {exc}") from exc
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.PREFIX}{name}"


def open_landing(settings: Settings) -> Landing:
    """The landing area of the environment profile."""
    if isinstance(settings.environment.storage, S3Storage):
        return BucketLanding.from_settings(settings)
    return LocalLanding(settings.paths.landing)


CLOCK_FILE = "manifest.json"
# A delivery's day as the bureau's systems write it into the file or folder name: passes/20260715/…, flows_20260715.csv.
_DAY_IN_NAME = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")


def delivery_day(name: str) -> dt.date | None:
    """The day a landing file delivers, from the first valid YYYYMMDD in its name; None when the name has none
    (such a file belongs to no daily partition: every partition run picks it up once)."""
    for match in _DAY_IN_NAME.finditer(name):
        try:
            return dt.date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
    return None


def data_clock(landing: Landing) -> dt.datetime | None:
    """The "now" of a replayed landing area: a simulated or archived day carries it as `clock` in manifest.json at
    the landing root, so that its checks ("not in the future") mean what they meant that day. None: the wall clock."""
    try:
        document = json.loads(landing.read(CLOCK_FILE))
    except (OSError, ValueError):
        return None
    clock = document.get("clock") if isinstance(document, dict) else None
    return dt.datetime.fromisoformat(clock) if clock else None
