"""Strict YAML reading with source positions, shared by every file people edit (profiles, mappings, policies).

PyYAML's default loader turns `on`/`no` into booleans, `1:30` into 90 and `2025-01-01` into a date, and silently
keeps the last of two duplicate keys. Policy staff and operators must get the text they wrote back, and every error
must point at a line, so files are read as YAML 1.2 (ruamel.yaml) with duplicate keys rejected and dates kept as text.
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Located:
    """One problem in one file, at a JSON pointer and (where known) a 1-based line."""

    file: str
    line: int | None
    pointer: str
    code: str
    message: str
    hint: str | None = None
    column: int | None = None  # 1-based, where known (e.g. inside a condition expression)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        where = f"{where}:{self.column}" if self.line and self.column else where
        text = f"{where}: {self.code} at {self.pointer or '/'}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "pointer": self.pointer,
                "code": self.code, "message": self.message, "hint": self.hint}


class YamlFileError(ValueError):
    """All the problems of one file, reported together; the file is rejected whole."""

    def __init__(self, problems: Iterable[Located]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    # pointer -> 1-based (line, column) where a text value's content starts (after an opening quote)
    starts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def line_of(self, pointer: str) -> int | None:
        """The line of the deepest known node on the way to `pointer` (a missing key points at its parent)."""
        while True:
            if pointer in self.lines:
                return self.lines[pointer]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def problem(self, pointer: str, code: str, message: str, hint: str | None = None) -> Located:
        return Located(str(self.path), self.line_of(pointer), pointer, code, message, hint)

    def problem_at(self, pointer: str, offset: int, code: str, message: str, hint: str | None = None) -> Located:
        """A problem `offset` characters (1-based) into the single-line text value at `pointer`."""
        line, column = self.starts.get(pointer, (self.line_of(pointer), None))
        return Located(str(self.path), line, pointer, code, message, hint,
                       column + offset - 1 if column is not None else None)


def _escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _line(lc: Any, getter: str, key: Any, fallback: int) -> int:
    """A node's line; a key merged in with `<<:` has none of its own and takes the mapping's."""
    try:
        return getattr(lc, getter)(key)[0] + 1
    except (KeyError, IndexError, TypeError):
        return fallback


def _start(lc: Any, getter: str, key: Any) -> tuple[int, int] | None:
    try:
        return getattr(lc, getter)(key)
    except (KeyError, IndexError, TypeError):
        return None


def _plain(node: Any, pointer: str, lines: dict[str, int], path: Path, count: list[int],
           starts: dict[str, tuple[int, int]] | None = None) -> Any:
    """Convert ruamel's round-trip nodes into plain dicts and lists, recording each node's line (and, for text
    values, where the text starts: 0-based here, made 1-based and quote-aware by load_yaml). `count` bounds the
    nodes built: aliases expand here, so the bound holds whatever the aliases multiply."""
    starts = {} if starts is None else starts
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _refuse(path, lines.get(pointer), "E_LIMIT", f"more than {MAX_NODES} values once aliases are expanded")
    here = lines.get(pointer, 1)
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise YamlFileError([Located(str(path), _line(node.lc, "key", key, here), pointer, "E_KEY_TYPE",
                                             f"key {key!r} must be text; quote it")])
            child = f"{pointer}/{_escape(key)}"
            lines[child] = _line(node.lc, "key", key, here)
            if isinstance(value, str) and (start := _start(node.lc, "value", key)) is not None:
                starts[child] = start
            out[key] = _plain(value, child, lines, path, count, starts)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = f"{pointer}/{index}"
            lines[child] = _line(node.lc, "item", index, here)
            if isinstance(value, str) and (start := _start(node.lc, "item", index)) is not None:
                starts[child] = start
            items.append(_plain(value, child, lines, path, count, starts))
        return items
    if isinstance(node, (dt.date, dt.datetime)):
        # Keep what the author wrote: dates are interpreted by the model that reads them, with its time zone.
        return node.isoformat()
    if isinstance(node, str):
        return str(node)
    if node is None or isinstance(node, (bool, int, float)):
        return node
    raise _refuse(path, here, "E_YAML", f"a {type(node).__name__} value is not allowed here: write plain values")


# Bounds that every file people edit stays far inside; beyond them the file is refused before it is built, so an
# alias bomb ("billion laughs") or a 10,000-deep nesting costs neither memory nor a crash.
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 100_000


def _refuse(path: Path, line: int | None, code: str, message: str) -> YamlFileError:
    return YamlFileError([Located(str(path), line, "", code, message)])


def _prescan(yaml: YAML, text: str, path: Path) -> None:
    """Walk the parser's events (no tree is built): depth, aliases and explicit tags are checked first."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

    depth = aliases = 0
    for event in yaml.parse(text):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(path, line, "E_LIMIT", f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
        elif isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _refuse(path, line, "E_LIMIT", f"more than {MAX_ALIASES} aliases (*name)")
        if isinstance(event, NodeEvent) and getattr(event, "tag", None) and not _implicit(event):
            raise _refuse(path, line, "E_YAML", f"YAML tag {event.tag} is not allowed: write plain values")


def _implicit(event: Any) -> bool:
    implicit = getattr(event, "implicit", None)
    if isinstance(implicit, tuple):
        return any(implicit)
    return bool(implicit)


def load_yaml(path: str | Path) -> YamlDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError([Located(str(path), None, "", "E_FILE", "file not found")]) from None
    except IsADirectoryError:
        raise YamlFileError([Located(str(path), None, "", "E_FILE", "is a folder, not a file")]) from None
    except OSError as exc:
        raise YamlFileError([Located(str(path), None, "", "E_FILE", exc.strerror or str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise YamlFileError([Located(str(path), None, "", "E_ENCODING",
                                     f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    cached = _parsed_cache.get(text)
    if cached is not None:
        return YamlDocument(path, *cached)
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    try:
        _prescan(yaml, text, path)
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlFileError([Located(str(path), line, "", "E_YAML", message)]) from None
    except YAMLError as exc:
        raise YamlFileError([Located(str(path), None, "", "E_YAML", " ".join(str(exc).split()))]) from None
    lines: dict[str, int] = {"": 1}
    raw_starts: dict[str, tuple[int, int]] = {}
    data = _plain(raw, "", lines, path, [0], raw_starts)
    document = YamlDocument(path, data, lines, _text_starts(text, raw_starts))
    _parsed_cache.put(text, document)
    return document


class ParsedYamlCache:
    """Parsed files by their text's SHA-256 (with this module's code and ruamel's version), as JSON on disk.

    Why: ruamel's round-trip parser, which gives every value its line, is slow: the standards' 119 files took 1.8 s
    to load, and every process pays it (each Dagster step, each CLI command), which was much of the orchestration's
    overhead (issue 22). A file's parse depends only on its text, so the key is the text: an edited file is parsed
    anew, and nothing can go stale. Only files that parsed cleanly are kept (errors name the path, so they are always
    produced afresh), and only when JSON gives the same values back. JSON, not pickle: reading the cache runs no code.
    Off with SAFECITY_YAML_CACHE=off; the folder is SAFECITY_YAML_CACHE, else $XDG_CACHE_HOME/safecity/yaml (or
    ~/.cache/...). A folder that cannot be written is skipped, and every problem only costs the parse."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self._salt: bytes | None = None

    @classmethod
    def from_environment(cls) -> "ParsedYamlCache":
        setting = os.environ.get("SAFECITY_YAML_CACHE", "")
        if setting.lower() == "off":
            return cls(None)
        if setting:
            return cls(Path(setting).expanduser())
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return cls(Path(base) / "safecity" / "yaml")

    def _file(self, text: str) -> Path | None:
        if self.folder is None:
            return None
        if self._salt is None:
            import ruamel.yaml
            self._salt = hashlib.sha256(Path(__file__).read_bytes()).digest() + ruamel.yaml.__version__.encode()
        return self.folder / f"{hashlib.sha256(self._salt + text.encode('utf-8')).hexdigest()}.json"

    def get(self, text: str) -> tuple[Any, dict[str, int], dict[str, tuple[int, int]]] | None:
        file = self._file(text)
        if file is None:
            return None
        try:
            kept = json.loads(file.read_text(encoding="utf-8"))
            return kept["data"], kept["lines"], {k: (v[0], v[1]) for k, v in kept["starts"].items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # not there, or unreadable: parse

    def put(self, text: str, document: YamlDocument) -> None:
        file = self._file(text)
        if file is None:
            return
        kept = {"data": document.data, "lines": document.lines, "starts": document.starts}
        temporary: Path | None = None
        try:
            encoded = json.dumps(kept, ensure_ascii=False, allow_nan=False)
            if json.loads(encoded)["data"] != document.data:
                return
            file.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=file.parent, suffix=".tmp",
                                             delete=False) as out:
                temporary = Path(out.name)
                out.write(encoded)
            os.replace(temporary, file)  # whole or not at all, whoever else writes the same key
        except (OSError, ValueError, TypeError):
            if temporary is not None:
                temporary.unlink(missing_ok=True)


_parsed_cache = ParsedYamlCache.from_environment()


def _text_starts(text: str, raw: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    source = text.splitlines()
    starts = {}
    for pointer, (line, column) in raw.items():
        row = source[line] if line < len(source) else ""
        opening = row[column:column + 1]
        if opening in ("|", ">"):
            continue  # a block scalar: its text starts on later lines, columns would mislead
        starts[pointer] = (line + 1, column + 1 + (opening in ("'", '"')))
    return starts


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def parse_model(document: YamlDocument, model: type[M], pointer: str = "") -> M:
    """Validate a document (or the part at `pointer`) with a pydantic model; all errors at once, with lines."""
    data = document.data
    for token in [t for t in pointer.split("/") if t]:
        data = data[int(token)] if isinstance(data, list) else data[token]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise YamlFileError(_locate(document, exc, model, pointer)) from None


def _data_path(data: Any, loc: list[str]) -> list[str]:
    """pydantic puts a tagged union's tag into `loc` (e.g. /storage/s3/bucket); keep only steps that exist in the
    data, so the pointer is the one the author sees. The last step stays: it may be a missing key."""
    path, node = [], data
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            path.append(part)
            node = node[int(part)]
        elif is_last:
            path.append(part)
    return path


def _locate(document: YamlDocument, exc: ValidationError, model: type[BaseModel], base: str) -> list[Located]:
    problems = []
    data = document.data
    for token in [t for t in base.split("/") if t]:
        data = data[int(token)] if isinstance(data, list) else data[token]
    for error in exc.errors():
        loc = _data_path(data, [str(part) for part in error["loc"]])
        pointer = base + "".join(f"/{_escape(part)}" for part in loc)
        hint = None
        if error["type"] == "extra_forbidden":
            code = "E_UNKNOWN_KEY"
            hint = did_you_mean(loc[-1], _known_keys(model, loc[:-1]))
        elif error["type"] == "missing":
            code = "E_REQUIRED"
        else:
            code = "E_TYPE"
        problems.append(document.problem(pointer, code, error["msg"], hint))
    return problems


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (itself, union members, Annotated/Optional/list contents)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and not getattr(annotation, "__args__", None):
        found.extend(_models_in(origin))
    return found


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    """Field names of the (nested) models at `path`, for did-you-mean hints; empty where it cannot be followed."""
    current = [model]
    for part in path:
        if part.isdigit():
            continue
        following = []
        for candidate in current:
            if part in candidate.model_fields:
                following.extend(_models_in(candidate.model_fields[part].annotation))
        current = following
    return sorted({name for candidate in current for name in candidate.model_fields})
