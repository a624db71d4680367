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
    from safecity.orchestration.cli_errors import fail, remember_settings
    try:
        settings = load_settings(env, home)
    except YamlFileError as exc:
        raise fail(f"配置错误 / configuration error:\n{exc}") from None
    if home is not None and home.exists() and not home.is_dir():
        raise fail(f"{home}: --home 不是目录 / is not a folder; give a folder for the state (or leave it out)")
    remember_settings(settings)
    return settings
