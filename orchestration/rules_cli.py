"""`safecity rules …`: the commands policy staff use to change a policy safely (check, test, replay, diff) and the
commands that run the engine (serve, deliver)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from safecity.config.yamlfile import Located, YamlFileError

rules_app = typer.Typer(help="策略文件与规则引擎 / Policy files and the rule engine: check, test, replay, diff, serve.",
                        no_args_is_help=True)

PathArgument = typer.Argument(None, help="Policy file or folder (default: the shipped policies).")


def problem_record(problem: Located) -> dict:
    """One error as JSON: the text fields of `file:line: CODE at /pointer: message` plus the message split into its
    Chinese and English halves, for a UI or CI."""
    zh, _, en = problem.message.partition(" / ")
    return {**problem.as_dict(), "message_zh": zh if en else None, "message_en": en or problem.message}


def _load(path: Path | None, as_json: bool = False):
    from safecity.rules.loader import POLICIES_DIR, load_policies
    try:
        return load_policies(path or POLICIES_DIR)
    except YamlFileError as exc:
        typer.echo(json.dumps([problem_record(p) for p in exc.problems], ensure_ascii=False, indent=2) if as_json
                   else str(exc))
        raise typer.Exit(1) from None


@rules_app.command("check")
def rules_check(path: Path = PathArgument, as_json: bool = typer.Option(False, "--json")) -> None:
    """检查策略文件 / Validate policy files; every error as file:line: CODE at /pointer: message."""
    policies = _load(path, as_json)
    typer.echo(json.dumps([], ensure_ascii=False) if as_json else f"{len(policies)} policies OK")


@rules_app.command("test")
def rules_test(path: Path = PathArgument) -> None:
    """运行策略文件内的测试 / Run the tests written inside the policy files."""
    from safecity.rules.testing import run_policy_tests
    policies = _load(path)
    failed = passed = 0
    for policy in policies:
        for result in run_policy_tests(policy):
            failed += not result.passed
            passed += result.passed
            detail = "" if result.passed else " — " + "; ".join(result.failures)
            typer.echo(f"{'PASS' if result.passed else 'FAIL'} {policy.policy.id} :: {result.name}{detail}")
    typer.echo(f"{passed} passed, {failed} failed in {len(policies)} policies")
    raise typer.Exit(1 if failed else 0)
