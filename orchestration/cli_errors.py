"""Every `safecity` error as one or two lines (what, where, what to do) and exit code 2; `--debug` adds the traceback.

One mechanism for every command: the root command group (ErrorReportingGroup) catches what a command raises and
describes it here. The settings a command selected (cli_options.settings_or_exit keeps them in the click context)
name the servers of the environment, so that an unreachable PostgreSQL catalog, S3/MinIO bucket or Kafka broker
is reported with its address and the environment variable that sets it.
"""
from __future__ import annotations

import traceback

import click
import typer
from typer.core import TyperGroup

from safecity.lakehouse.servers import unreachable_server

SETTINGS_KEY = "safecity.settings"
DEBUG_KEY = "safecity.debug"
EXIT_ERROR = 2


def _server(kind: str, settings) -> str:
    """The server's name, address and the environment variable to check, from the selected profile."""
    import os

    environment = getattr(settings, "environment", None)
    if kind == "catalog":
        variable = getattr(getattr(environment, "catalog", None), "url_env", None) or "SAFECITY_CATALOG_URL"
        address = _address(os.environ.get(variable, ""))
        return (f"PostgreSQL 目录不可达 / the PostgreSQL Iceberg catalog at {address or '?'} is unreachable; "
                f"check that the server runs and {variable}")
    if kind == "bucket":
        storage = getattr(environment, "storage", None)
        variable = getattr(storage, "endpoint_env", None) or "SAFECITY_S3_ENDPOINT"
        bucket = getattr(storage, "bucket", "?")
        return (f"对象存储不可达 / the S3/MinIO bucket {bucket} at {os.environ.get(variable) or '?'} is unreachable; "
                f"check that the server runs and {variable} (and its access keys)")
    variable = getattr(getattr(environment, "kafka", None), "bootstrap_servers_env", None) or \
        "SAFECITY_KAFKA_BOOTSTRAP"
    return (f"Kafka 不可达 / the Kafka broker at {os.environ.get(variable) or '?'} is unreachable; check that it "
            f"runs and {variable} (or --kafka)")


def _address(url: str) -> str:
    """host:port/database of a database URL, never its password."""
    from sqlalchemy.engine import make_url
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 -- an unparsable URL is itself what to check
        return "(unparsable URL)"
    return f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"


def describe(exc: BaseException, settings=None) -> str:
    """One or two lines for a user: what went wrong, where, and what to do."""
    from safecity.config.yamlfile import YamlFileError
    from safecity.ingestion.readers import UnreadableFile

    kind = unreachable_server(exc)
    if kind is not None:
        return _server(kind, settings) + f"\n  ({type(exc).__name__}: {_first_line(exc)})"
    if isinstance(exc, YamlFileError):
        return f"配置错误 / configuration error:\n{exc}"
    if isinstance(exc, UnreadableFile):
        return f"文件无法读取 / cannot read the file: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return (f"{exc.filename}: {exc.strerror or exc}\n  路径不可用 / check that the path exists, is the right kind "
                f"(file or folder) and is readable and writable by this user")
    return (f"错误 / error: {type(exc).__name__}: {_first_line(exc)}\n"
            f"  run again with --debug for the traceback, and report it if the input looks right")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def fail(message: str) -> typer.Exit:
    """Print `message` (one or two lines) to stderr and give the exit to raise: `raise fail(...)`."""
    typer.echo(message, err=True)
    return typer.Exit(EXIT_ERROR)


class ErrorReportingGroup(TyperGroup):
    """The root command group: an exception of any command ends as `describe`'s lines and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 -- the one place where any error becomes a message
            if ctx.meta.get(DEBUG_KEY):
                traceback.print_exc()
            raise fail(describe(exc, ctx.meta.get(SETTINGS_KEY))) from None


def remember_settings(settings) -> None:
    """Keep the settings a command selected, for describing its errors."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[SETTINGS_KEY] = settings
