"""`safecity site …`: make a site folder and check it."""
from __future__ import annotations

import json
from pathlib import Path

import typer

site_app = typer.Typer(help="站点目录 / Site folder: a deployment's own city profile, mappings, policies and "
                            "environments, as files.", no_args_is_help=True)


@site_app.command("new")
def site_new(folder: Path = typer.Argument(..., help="New site folder (must not exist or be empty)."),
             origin: str = typer.Option("qinhuangdao", "--from",
                                        help="从哪个站点复制 / Site to start from: the shipped city's id or a site "
                                             "folder.")) -> None:
    """新建站点目录 / Make a site folder from a site (the shipped Qinhuangdao one by default), each file with
    comments in Chinese and English; edit its files for your city."""
    from safecity.config.site import default_site, load_site
    from safecity.config.site_scaffold import scaffold_site
    from safecity.config.yamlfile import YamlFileError
    from safecity.orchestration.cli_errors import fail
    shipped = default_site()
    try:
        source = shipped if origin == shipped.city else load_site(origin)
        written = scaffold_site(folder, source)
    except (YamlFileError, FileExistsError) as exc:
        raise fail(f"站点错误 / site error: {exc}") from None
    typer.echo(f"站点已创建 / site made: {folder} ({len(written)} files, from {origin})")
    typer.echo(f"下一步 / next: edit {folder}/city.yaml and {folder}/sources/, then `safecity site check {folder}`")


@site_app.command("check")
def site_check(folder: Path = typer.Argument(..., help="Site folder."),
               as_json: bool = typer.Option(False, "--json", help="Print {ok, counts, problems} as JSON.")) -> None:
    """检查站点目录 / Check every file of a site folder; each problem with its file and line. Exit 1 on problems."""
    from safecity.orchestration.site_check import check_site
    report = check_site(folder)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "counts": report.counts,
                               "problems": [p.as_dict() for p in report.problems]}, ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            typer.echo(str(problem), err=True)
        verdict = "通过 / ok" if report.ok else f"{len(report.problems)} 个问题 / problems"
        typer.echo(f"{folder}: {verdict}; " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
    raise typer.Exit(0 if report.ok else 1)
