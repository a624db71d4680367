"""What every `safecity` command group shares: the --env and --home options and the settings they select."""
from __future__ import annotations

from pathlib import Path

import typer

from safecity.config.yamlfile import YamlFileError

HomeOption = typer.Option(None, "--home", help="State folder (default: $SAFECITY_HOME or ./var).")
EnvOption = typer.Option(None, "--env", help="Environment profile (default: $SAFECITY_ENV or local).")


def settings_or_exit(env: str | None, home: Path | None):
    """The settings of the profile, or exit 2 with the profile's error (file, line, pointer)."""
    from safecity.config.profiles import load_settings
    try:
        return load_settings(env, home)
    except YamlFileError as exc:
        typer.echo(f"配置错误 / configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
