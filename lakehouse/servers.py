"""Which production server an exception says is unreachable: the PostgreSQL catalog, the S3/MinIO bucket or the
Kafka broker. Ingestion re-raises these instead of quarantining a file (the file is not at fault), and the CLI
names the server, its address and the environment variable to check."""
from __future__ import annotations

from typing import Iterator


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def unreachable_server(exc: BaseException) -> str | None:
    """"catalog", "bucket", "broker" or None, from the exception and the exceptions it was raised from."""
    for link in _chain(exc):
        module, name = type(link).__module__, type(link).__name__
        text = str(link)
        if module.startswith(("sqlalchemy", "psycopg")) and name in ("OperationalError", "InterfaceError"):
            return "catalog"
        if module.startswith("kafka") and name in ("NoBrokersAvailable", "KafkaConnectionError", "KafkaTimeoutError"):
            return "broker"
        if module.startswith(("botocore", "urllib3", "minio")) and "onnect" in name + text:
            return "bucket"
        if isinstance(link, OSError) and ("AWS Error" in text or "curlCode" in text):
            return "bucket"
    return None
