"""`safecity transforms …`: the analysis layers' commands."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from safecity.orchestration.cli_options import SiteOption

transforms_app = typer.Typer(help="分析模型 / Analysis models (dbt): review changes before they ship.",
                             no_args_is_help=True)


@transforms_app.command()
def review(as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
           workdir: Path | None = typer.Option(None, "--workdir", help="Keep the scratch copies here."),
           env: str | None = typer.Option(None, "--env", help="Environment profile."),
           home: Path | None = typer.Option(None, "--home", help="State folder (default: $SAFECITY_HOME or ./var)."),
        site: Path | None = SiteOption):
    """评审工作区中改动的模型 / For each model changed in the working tree: breaking or not, and a table diff
    against the current build (SQLMesh on a scratch copy; production is never written)."""
    from safecity.config.profiles import load_settings
    from safecity.transforms.review import ReviewError, render_text
    from safecity.transforms.review import review as run_review

    settings = load_settings(env, home)
    try:
        report = run_review(settings, workdir)
    except ReviewError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else render_text(report))


@transforms_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context,
        env: str | None = typer.Option(None, "--env", help="Environment profile."),
        home: Path | None = typer.Option(None, "--home", help="State folder (default: $SAFECITY_HOME or ./var)."),
        site: Path | None = SiteOption):
    """在本状态目录上运行 dbt / Run a dbt command on this home's warehouse, exactly as the assets run it (the venv's
    dbt, the home's profile and target folder, the city's variables): `safecity transforms dbt build -s mart_x`."""
    from safecity.config.profiles import load_settings
    from safecity.transforms.invocation import run_dbt

    completed = run_dbt(load_settings(env, home), *ctx.args, timeout=None)
    typer.echo(completed.stdout, nl=False)
    typer.echo(completed.stderr, nl=False, err=True)
    raise typer.Exit(completed.returncode)
