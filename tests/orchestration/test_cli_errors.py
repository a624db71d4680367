"""Every `safecity` error is one or two lines (what, where, what to do) with exit code 2; --debug adds the
traceback. One mechanism (orchestration/cli_errors.py) for every command."""
import pytest
from typer.testing import CliRunner

from safecity.orchestration.cli import app


def run(*args):
    return CliRunner().invoke(app, list(args))


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("make_args, expected", [
    (lambda tmp: ["ingest", "video_platform_catalog_csv", str(tmp / "missing.csv"), "--home", str(tmp / "h")],
     "does not exist"),
    (lambda tmp: ["ingest", "video_platform_catalog_csv", str(tmp), "--home", str(tmp / "h")], "is a folder"),
    (lambda tmp: ["ingest", "no_such_mapping", "--home", str(tmp / "h")], "no_such_mapping.yaml"),
    (lambda tmp: ["quarantine", "summary", "--home", str(tmp / "a-file")], "is not a folder"),
    (lambda tmp: ["quarantine", "summary", "--home", str(tmp / "a-file" / "below")], "Not a directory"),
    (lambda tmp: ["standards", "check", str(tmp / "missing.csv"), "--entity", "camera"], "missing.csv"),
])
def test_errors_are_short_and_exit_2(tmp_path, make_args, expected):
    (tmp_path / "a-file").write_text("not a folder")
    result = run(*make_args(tmp_path))
    lines = error_lines(result)
    assert result.exit_code == 2, result.output
    assert 1 <= len(lines) <= 3 and expected in "\n".join(lines), lines
    assert "Traceback" not in result.output


def test_an_unexpected_failure_is_two_lines_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    from safecity.ingestion import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("the unexpected\nsecond line")

    monkeypatch.setattr(pipeline, "ingest_source", broken)
    args = ["ingest", "video_platform_catalog_csv", "--home", str(tmp_path / "h")]
    plain = run(*args)
    assert plain.exit_code == 2 and "Traceback" not in plain.stderr
    assert error_lines(plain) == ["错误 / error: RuntimeError: the unexpected",
                                  "  run again with --debug for the traceback, and report it if the input looks right"]
    debug = run("--debug", *args)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "RuntimeError" in debug.stderr
