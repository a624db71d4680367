"""docs/architecture.md draws the packages and the way their imports point; the code must say the same. An import
along an arrow that is not drawn is a dependency nobody decided on; a drawn arrow nothing uses is a stale picture."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
ARROW = re.compile(r"^\s*(\w+)\s*-->\s*(\w+)\s*$")


def drawn_arrows() -> set[tuple[str, str]]:
    """The arrows of the Mermaid block marked `%% packages`."""
    blocks = re.findall(r"```mermaid\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    packages = [b for b in blocks if "%% packages" in b]
    assert len(packages) == 1, "docs/architecture.md must hold exactly one Mermaid block marked %% packages"
    return {m.groups() for line in packages[0].splitlines() if (m := ARROW.match(line))}


def imported_packages(package: str, known: set[str]) -> dict[str, list[str]]:
    """The other first-party packages `package` imports (module level or inside functions), with where."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                parts = name.split(".")
                # Installed as safecity.<folder>; the benchmarks import as themselves.
                target = parts[1] if parts[0] == "safecity" and len(parts) > 1 else parts[0]
                if target in known and target != package:
                    found.setdefault(target, []).append(str(path.relative_to(ROOT)))
    return found


def actual_arrows(packages: set[str]) -> dict[tuple[str, str], list[str]]:
    return {(package, target): where for package in packages
            for target, where in imported_packages(package, packages).items()}


def test_every_package_is_in_the_picture():
    drawn = {p for arrow in drawn_arrows() for p in arrow}
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"}
    assert on_disk == drawn


def test_the_code_imports_exactly_along_the_drawn_arrows():
    drawn = drawn_arrows()
    actual = actual_arrows({p for arrow in drawn for p in arrow})
    undrawn = {f"{a} --> {b} ({', '.join(sorted(set(where))[:3])})" for (a, b), where in actual.items()
               if (a, b) not in drawn}
    unused = {f"{a} --> {b}" for a, b in drawn if (a, b) not in actual}
    assert not undrawn, f"imports the diagram does not allow: {sorted(undrawn)}"
    assert not unused, f"arrows nothing imports any more: {sorted(unused)}"


def test_the_drawn_dependencies_have_no_cycle():
    arrows = drawn_arrows()
    graph: dict[str, set[str]] = {}
    for a, b in arrows:
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert not [a for a in graph if reaches(a, a, set())]


def test_a_stray_import_is_caught(tmp_path, monkeypatch):
    # The check itself can fail: a pipeline package importing orchestration is reported with its file.
    package = tmp_path / "rules"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text("from safecity.orchestration.cli import app\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert imported_packages("rules", {"rules", "orchestration"}) == {"orchestration": ["rules/bad.py"]}


def test_the_installed_packages_are_the_folders_that_hold_python():
    """pyproject.toml lists the packages setuptools installs; a folder removed but still listed breaks `pip install`
    on a fresh machine, a folder added but not listed is missing from a non-editable install."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    roots = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    listed = set(config["packages"])
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                relative = init.parent.relative_to(folder).parts
                found.add(".".join((name, *relative)))
    assert listed == found
