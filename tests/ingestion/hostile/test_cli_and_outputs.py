"""Hostile command-line arguments to `standards check` end in a one-line error naming the code and exit code 2,
never a traceback; the rejected-rows CSV it writes for spreadsheets holds no live formula; files in landing that
no mapping claims are listed; the simulator delivers into the folders its mappings read."""
import csv

import pytest
from typer.testing import CliRunner

from safecity.ingestion.filecheck import FORMULA_START
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import SOURCES_DIR
from safecity.ingestion.unclaimed import source_mappings, unclaimed_files
from safecity.orchestration.cli import app
from tests.ingestion.hostile.files import all_cases

# Chinese names of the elements, so the check matches each column (用途属性 99 is not a use type).
HEADER = "设备编码,设备名称,生产厂商,设备型号,安装地址,经度,纬度,摄像机类型,用途属性,设备状态"
ROW = "13030200001320000001,{name},海康威视,DS,河北省秦皇岛市海港区,119.60,39.93,1,{kind},ON"


def rejected_rows(path):
    with open(path.with_name(path.name + ".rejected.csv"), encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def check(*args: str):
    return CliRunner().invoke(app, ["standards", "check", *args])


def refused_file_cases():
    # An empty --encoding is no option at all (the file's encoding is then found), so it is not refused.
    return [c for c in all_cases() if c.values[0].outcome.file_code and c.values[0].format == "csv"
            and c.values[0].encoding]


@pytest.mark.parametrize("case", refused_file_cases())
def test_a_refused_file_is_one_clear_error(tmp_path, case):
    path = tmp_path / "export.csv"
    path.write_bytes(case.data)
    result = check(str(path), "--entity", "camera", "--encoding", case.encoding)
    assert result.exit_code == 2, result.output
    assert case.outcome.file_code in result.output and str(path) in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


@pytest.mark.parametrize("args, expected", [
    (["{missing}", "--entity", "camera"], "E_FILE"),
    (["{folder}", "--entity", "camera"], "E_FILE"),
    (["{file}", "--entity", "camera", "--encoding", "unicode_escape"], "E_ENCODING"),
    (["{file}", "--entity", "camera", "--encoding", "rot13"], "E_ENCODING"),
    (["{file}", "--entity", "camera", "--encoding", "no-such"], "E_ENCODING"),
    (["{file}", "--entity", "cameras"], "unknown entity"),
    (["{file}", "--entity", "../../etc/passwd"], "unknown entity"),
    (["{file}", "--entity", "camera", "--mapping", "{bomb}"], "E_LIMIT"),
    (["{file}", "--entity", "camera", "--mapping", "{folder}/x.yaml"], "E_FILE"),
], ids=["missing-file", "folder", "unicode-escape", "rot13", "no-such-codec", "unknown-entity", "entity-path",
        "mapping-bomb", "mapping-missing"])
def test_hostile_arguments(tmp_path, args, expected):
    (tmp_path / "folder").mkdir()
    (tmp_path / "ok.csv").write_text(HEADER + "\n" + ROW.format(name="甲", kind="3") + "\n", encoding="utf-8")
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, n in zip("abcdef", "bcdefg"))
    (tmp_path / "bomb.yaml").write_text(bomb, encoding="utf-8")
    places = {"missing": str(tmp_path / "none.csv"), "folder": str(tmp_path / "folder"),
              "file": str(tmp_path / "ok.csv"), "bomb": str(tmp_path / "bomb.yaml")}
    result = check(*[a.format(**places) for a in args])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


FORMULAS = ["=1+2", "+86 10 1234", "-2+3", "@SUM(A1:A9)", "\tcmd", "\r=x", "＝1", "=HYPERLINK(\"http://x\")",
            "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_rejected_rows_csv_holds_no_live_formula(tmp_path, cell):
    path = tmp_path / "export.csv"
    name = '"' + cell.replace('"', '""') + '"'
    # The use type is wrong, so the row is rejected and its cells are written out.
    path.write_text(HEADER + "\n" + ROW.format(name=name, kind="99") + "\n", encoding="utf-8")
    result = check(str(path), "--entity", "camera")
    assert result.exit_code == 0, result.output
    rows = rejected_rows(path)
    assert rows and rows[0]["设备名称"] == "'" + cell
    for row in rows:
        assert not any(value.startswith(FORMULA_START) for value in row.values())


def test_negative_numbers_stay_numbers(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "\n" + ROW.format(name="甲", kind="99").replace("119.60", "-119.60") + "\n",
                    encoding="utf-8")
    assert check(str(path), "--entity", "camera").exit_code == 0
    rows = rejected_rows(path)
    assert rows[0]["经度"] == "-119.60"


def mappings():
    found = source_mappings()
    assert len(found) == len(list(SOURCES_DIR.glob("*.yaml")))
    return found


def test_files_no_mapping_claims_are_listed(tmp_path):
    for name in ("cameras/a.csv", "cameras/b.txt", "calls/calls_20260701.csv", "stray/x.csv", "readme.md",
                 "manifest.json", "support/duty_roster_1.csv", "support/unknown.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert unclaimed_files(LocalLanding(tmp_path), mappings()) == [
        "cameras/b.txt", "readme.md", "stray/x.csv", "support/unknown.csv"]


def test_a_link_out_of_landing_is_never_listed(tmp_path):
    (tmp_path / "landing" / "cameras").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("x", encoding="utf-8")
    (tmp_path / "landing" / "cameras" / "link.csv").symlink_to(tmp_path / "secret.csv")
    (tmp_path / "landing" / "up").symlink_to(tmp_path)
    landing = LocalLanding(tmp_path / "landing")
    assert landing.files("cameras", "*.csv") == []
    with pytest.raises(ValueError):
        landing.files("up", "*.csv")


def test_the_simulated_day_lands_where_the_mappings_read(tmp_path):
    import datetime as dt

    from safecity.simulator.run import simulate

    simulate("qinhuangdao", dt.date(2026, 7, 1), 1, "small", 3, tmp_path)
    # Snapshots belong to the video-quality diagnosis; every other file the simulator writes has a mapping.
    assert unclaimed_files(LocalLanding(tmp_path), mappings()) == []


def test_the_run_summary_lists_unclaimed_files(settings):
    from safecity.orchestration.summary import collect, render_text

    for name in ("calls/calls_20260701.csv", "stray/x.csv"):
        (settings.paths.landing / name).parent.mkdir(parents=True, exist_ok=True)
        (settings.paths.landing / name).write_text("x", encoding="utf-8")
    summary = collect(settings, True, "run-1", 1.0, {}, [])
    assert summary.unclaimed_files == ["stray/x.csv"]
    assert "landing files no mapping reads: 1\n  stray/x.csv" in render_text(summary)
