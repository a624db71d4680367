"""What every `safecity` command group shares: the --site, --env and --home options and the settings they select."""
from __future__ import annotations

from pathlib import Path

import typer

from safecity.config.yamlfile import YamlFileError

HomeOption = typer.Option(None, "--home", help="State folder (default: $SAFECITY_HOME or ./var).")
EnvOption = typer.Option(None, "--env", help="Environment profile: a name of the site's environments/ or a path "
                                             "(default: $SAFECITY_ENV, else the site's default).")


def use_site(value: Path | None) -> Path | None:
    """Make the site folder given on the command line the process's site before anything reads a profile."""
    if value is None:
        return None
    from safecity.config.site import activate_site, load_site
    from safecity.orchestration.cli_errors import fail
    try:
        activate_site(load_site(value))
    except YamlFileError as exc:
        raise fail(f"站点错误 / site error:\n{exc}") from None
    return value


SiteOption = typer.Option(None, "--site", callback=use_site, is_eager=True,
                          help="站点目录 / Site folder (default: $SAFECITY_SITE, else the shipped Qinhuangdao site).")


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
