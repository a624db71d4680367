"""Loading policy files (策略加载): strict YAML → Policy model → checks against the standards and action catalogues.

A file is accepted or rejected whole, and every problem in it is reported at once with its line, so that a
policy officer fixes a file in one round. Messages carry Chinese for the author and English for the developer.
Checks on events, fields and actions read the raw document rather than the model, so they still run when the
schema check has failed elsewhere in the same file.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from safecity.config.yamlfile import Located, YamlDocument, YamlFileError, did_you_mean, load_yaml, parse_model
from safecity.rules.actions import ACTIONS
from safecity.rules.compiler import ruleset_name
from safecity.rules.fields import NUMERIC, value_problem
from safecity.rules.charts import check_chart
from safecity.rules.expressions import ExpressionError, Test, alternatives, group_tree, parse
from safecity.rules.policy import (KIND_KEYS, ActionCall, OPERATORS, ORDERING, Comparison, Policy, Throttle, Window,
                                   kind_problems, merge_tests, when_kind)
from safecity.rules.shape import Match, Rule, policy_rules
from safecity.rules.tables import ACTION_COLUMN, Sheet, TableError, columns, formula_cells, read_sheet, typed
from safecity.rules.templates import (FILTER_NEEDS, FILTERS, TIME, is_whole_placeholder, leftover_braces,
                                      placeholders, walk_strings)
from safecity.standards.catalogue import Catalogue, Element, load_catalogue

POLICIES_DIR = Path(__file__).parent / "policies"
_SCHEMA_ZH = {"E_UNKNOWN_KEY": "未知的键", "E_REQUIRED": "缺少必填项", "E_TYPE": "取值不符合要求"}
_OPERATOR_POINTER = re.compile(r"^(?:/.*)?/where/[^/]+/([^/]+)$")


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: Path
    sha256: str  # of the exact bytes parsed (and of its decision table); the outbox's audit link to the file
    rules: tuple[Rule, ...] = ()

    @property
    def id(self) -> str:
        return self.policy.id

    @property
    def version(self) -> int:
        return self.policy.version

    @property
    def ruleset_name(self) -> str:
        return ruleset_name(self.policy.id)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # load_yaml reports missing or unreadable files with its own codes


def load_policy(path: str | Path, *, catalogue: Catalogue | None = None) -> LoadedPolicy:
    path = Path(path)
    catalogue = catalogue or load_catalogue()
    before = _digest(path)
    document = load_yaml(path)
    problems: list[Located] = []
    policy = None
    try:
        policy = parse_model(document, Policy)
    except YamlFileError as exc:
        problems.extend(_bilingual(p) for p in exc.problems)
    check = _CatalogueCheck(document, catalogue)
    checked = check.run()
    if check.kind_problem:
        problems = [p for p in problems if p.pointer]  # the model's own summary of the same kind problems
    problems.extend(checked)
    if problems:
        raise YamlFileError(sorted(problems, key=lambda p: (p.file != str(path), p.line or 0, p.column or 0)))
    digest = before
    if check.sheet is not None:
        digest = hashlib.sha256(((before or "") + (_digest(check.sheet.path) or "")).encode()).hexdigest()
    if before is None or _digest(path) != before:
        raise YamlFileError([Located(str(path), None, "", "E_FILE",
                                     "文件在读取过程中被修改，请重试 / file changed while it was being read")])
    assert policy is not None
    return LoadedPolicy(policy, path, digest, policy_rules(policy, tuple(check.table_rules)))


def load_policies(directory: str | Path = POLICIES_DIR, *, catalogue: Catalogue | None = None) -> list[LoadedPolicy]:
    """Every `*.yaml` below `directory`, sorted by path; all problems of all files in one YamlFileError."""
    directory = Path(directory)
    if not directory.exists():
        raise YamlFileError([Located(str(directory), None, "", "E_FILE", "目录不存在 / directory not found")])
    catalogue = catalogue or load_catalogue()
    loaded: list[LoadedPolicy] = []
    problems: list[Located] = []
    for path in sorted(directory.rglob("*.yaml")) if directory.is_dir() else [directory]:
        try:
            loaded.append(load_policy(path, catalogue=catalogue))
        except YamlFileError as exc:
            problems.extend(exc.problems)
    problems.extend(_duplicates(loaded))
    if problems:
        raise YamlFileError(problems)
    return loaded


def site_policies(site, catalogue: Catalogue | None = None) -> list[LoadedPolicy]:
    """The policies in force at a site (safecity.config.site.Site): its enabled packs and its own policies folder,
    checked together (an id used twice across them is an error as within one folder)."""
    problems: list[Located] = []
    loaded: list[LoadedPolicy] = []
    for directory in site.policy_dirs():
        try:
            loaded += load_policies(directory, catalogue=catalogue)
        except YamlFileError as exc:
            problems.extend(exc.problems)
    problems.extend(_duplicates(loaded))
    if problems:
        raise YamlFileError(problems)
    return loaded


def _duplicates(loaded: list[LoadedPolicy]) -> list[Located]:
    # Ids name policies in the outbox and the audit trail; ruleset names must be unique inside one engine host.
    problems = []
    by_id: dict[str, LoadedPolicy] = {}
    by_ruleset: dict[str, LoadedPolicy] = {}
    for item in loaded:
        first = by_id.get(item.id) or by_ruleset.get(item.ruleset_name)
        if first is None:
            by_id[item.id] = by_ruleset[item.ruleset_name] = item
            continue
        line = load_yaml(item.path).line_of("/id")
        if first.id == item.id:
            message = (f"策略编号 {item.id} 与 {first.path} 重复 / policy id {item.id!r} is already used by "
                       f"{first.path}")
        else:
            message = (f"策略编号 {item.id} 与 {first.path} 的 {first.id} 编译后规则集名相同 / ids {item.id!r} "
                       f"and {first.id!r} both compile to the ruleset {item.ruleset_name!r}")
        problems.append(Located(str(item.path), line, "/id", "E_DUPLICATE_ID", message))
    return problems


def _bilingual(problem: Located) -> Located:
    """Schema problems come from pydantic in English; put the Chinese gist in front and name bad operators."""
    operator = _OPERATOR_POINTER.match(problem.pointer)
    if problem.code == "E_UNKNOWN_KEY" and operator:
        return Located(problem.file, problem.line, problem.pointer, problem.code,
                       f"未知的比较运算符 {operator.group(1)}，可用 {'、'.join(OPERATORS)} / unknown operator "
                       f"{operator.group(1)!r}", did_you_mean(operator.group(1), OPERATORS))
    zh = _SCHEMA_ZH.get(problem.code, "格式错误")
    return Located(problem.file, problem.line, problem.pointer, problem.code, f"{zh} / {problem.message}",
                   problem.hint)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _esc(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _by_of(model: Any, value: Any) -> str | None:
    """The `by` of a window or throttle as the model reads it; None when it is malformed (the schema says why)."""
    try:
        return model.model_validate(value).by
    except ValidationError:
        return None


def _tests_of(expr: Any) -> list[Test]:
    return [expr] if isinstance(expr, Test) else [t for item in expr.items for t in _tests_of(item)]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


Fields = dict[str, Element]


class EventFields(dict):
    """An event type's fields, knowing which one is its time (what `{{ alias.time }}` names in a template)."""

    time_field: str | None = None


class _CatalogueCheck:
    """Events, fields, values, actions, parameters, templates, charts and tables of one document, against the
    catalogues. Reads the raw document so that it still runs where the schema check failed."""

    def __init__(self, document: YamlDocument, catalogue: Catalogue):
        self.document = document
        self.catalogue = catalogue
        self.problems: list[Located] = []
        self.sheet: Sheet | None = None
        self.table_rules: list[Rule] = []
        self.kind_problem = False

    def add(self, pointer: str, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(self.document.problem(pointer, code, message, hint))

    def run(self) -> list[Located]:
        data = _dict(self.document.data)
        kind = data.get("kind", "rule")
        for key, code, message in kind_problems(kind, {k: data.get(k) for k in KIND_KEYS}):
            self.kind_problem = True
            self.add(f"/{key}", code, message)
        partition_by = data.get("partition_by")
        subscribed: dict[str, Fields] = {}  # type -> fields, for the partition and test checks
        if kind == "statechart":
            self.chart(data, subscribed)
        elif kind == "escalation":
            self.ladder(data, subscribed)
        else:
            when = _dict(data.get("when"))
            if when_kind(when) == "all":
                bindings = self.correlation(when, subscribed)
            else:
                bindings = self.single(when, "/when", subscribed)
            if kind == "decision_table":
                self.table(data, when, bindings, partition_by)
            else:
                self.actions("/actions", data.get("actions"), bindings)
        if isinstance(partition_by, str):
            for event, fields in subscribed.items():
                if partition_by not in fields:
                    self.add("/partition_by", "E_UNKNOWN_FIELD",
                             f"事件 {event} 没有分区字段 {partition_by} / event {event!r} has no field "
                             f"{partition_by!r}", did_you_mean(partition_by, fields))
        if "throttle" in data:
            self.throttle(data, kind, subscribed)
        for index, test in enumerate(_list(data.get("tests"))):
            self.test(f"/tests/{index}", _dict(test), subscribed, partition_by)
        return self.problems

    def throttle(self, data: dict, kind: Any, subscribed: dict[str, Fields]) -> None:
        if kind in ("statechart", "escalation"):
            self.kind_problem = True
            self.add("/throttle", "E_KIND", "状态图和分级升级不用限频，由状态决定是否重复 / a chart or escalation has no "
                     "throttle: its states decide what repeats")
            return
        by = _by_of(Throttle, data["throttle"]) or data.get("partition_by")
        for event, fields in subscribed.items():
            if isinstance(by, str) and by not in fields:
                self.add("/throttle", "E_UNKNOWN_FIELD", f"限频字段 {by} 不是事件 {event} 的字段 / the throttle's field "
                         f"{by!r} is not a field of {event!r}", did_you_mean(by, fields))

    # -- conditions ------------------------------------------------------------------------------------------
    def single(self, when: dict, pointer: str, subscribed: dict[str, Fields]) -> dict[str, Fields | None]:
        fields = self.fields_of(when.get("event"), f"{pointer}/event")
        if fields is not None:
            subscribed[when["event"]] = fields
            for field, test in _dict(when.get("where")).items():
                self.where(f"{pointer}/where/{_esc(field)}", when["event"], fields, field, test)
        count = self.expressions(when, pointer, fields)
        if isinstance(when.get("window"), (dict, str)):
            self.window(when, pointer, count)
            return {"m": fields, "first": fields, "last": fields}
        return {"m": fields}

    def window(self, when: dict, pointer: str, alternatives_count: int | None) -> None:
        event_type = self.catalogue.events.get(when.get("event")) if isinstance(when.get("event"), str) else None
        if event_type is not None and not event_type.time_field:
            self.add(f"{pointer}/window", "E_WINDOW",
                     f"事件 {when['event']} 没有事件时间字段，不能按时间窗口计数 / event {when['event']!r} has no "
                     f"event-time field, so it cannot be counted in a time window")
        if alternatives_count is not None and alternatives_count > 1:
            self.add(f"{pointer}/window", "E_WINDOW", "计数窗口的条件不能含“或”（any/or），请拆成多条策略 / a "
                     "window counts events of one condition; it cannot have alternatives (any / or)")
        by = _by_of(Window, when["window"])
        partition_by = _dict(self.document.data).get("partition_by")
        if isinstance(by, str) and isinstance(partition_by, str) and by != partition_by:
            self.add(f"{pointer}/window", "E_WINDOW", f"窗口按 {by} 计数，但策略按 {partition_by} 分区，两者应一致 / "
                     f"the window counts by {by!r} but the policy is partitioned by {partition_by!r}")

    def expressions(self, when: dict, pointer: str, fields: Fields | None) -> int | None:
        """Parse the condition's any / all / not, check each comparison against the event's fields; the number of
        alternatives (engine rules) it makes, or None when it has a problem."""
        def parse_at(text: Any, at: str) -> Any:
            try:
                tree = parse(text, at)
            except ExpressionError as exc:  # go on: every expression's problem is reported in one round
                self.problems.append(self.document.problem_at(at, exc.column, exc.code, exc.message))
                return Test("", "eq", None, 1, at)
            tested.extend((at, test) for test in _tests_of(tree))
            return tree

        tested: list[tuple[str, Test]] = []
        before = len(self.problems)
        try:
            tree = group_tree(when, pointer, parse_at)
        except ExpressionError as exc:  # an empty group; the schema check names its unknown keys
            self.problems.append(self.document.problem_at(exc.pointer or pointer, 1, exc.code, exc.message))
            return None
        if tree is None:
            return 1
        options: list = []
        if len(self.problems) == before:
            try:
                options = alternatives(tree)
                for option in options:
                    merge_tests({}, option)
            except ExpressionError as exc:
                self.problems.append(self.document.problem_at(exc.pointer or pointer, exc.column, exc.code,
                                                              exc.message))
        ok = len(self.problems) == before
        if fields is None:
            return len(options) if ok else None
        for at, test in tested:
            ok = self.expression_test(at, when["event"], fields, test) and ok
        if ok and isinstance(when.get("window"), (dict, str)) and any(t.op == "contains" for _, t in tested):
            self.add(f"{pointer}/window", "E_WINDOW", "计数窗口的条件不能用 contains / a windowed condition cannot "
                     "use contains")
        return len(options) if ok else None

    def expression_test(self, at: str, event: str, fields: Fields, test: Test) -> bool:
        if test.field not in fields:
            self.problems.append(self.document.problem_at(
                at, test.column, "E_UNKNOWN_FIELD", f"事件 {event} 没有字段 {test.field} / event {event!r} has no "
                f"field {test.field!r}", did_you_mean(test.field, fields)))
            return False
        before = len(self.problems)
        self.where(at, event, fields, test.field, {test.op: test.value})
        for index in range(before, len(self.problems)):
            problem = self.problems[index]
            self.problems[index] = self.document.problem_at(at, test.column, problem.code, problem.message,
                                                             problem.hint)
        return len(self.problems) == before

    def correlation(self, when: dict, subscribed: dict[str, Fields]) -> dict[str, Fields | None]:
        bindings: dict[str, Fields | None] = {}
        for index, pattern in enumerate(_list(when.get("all"))):
            pattern = _dict(pattern)
            pointer = f"/when/all/{index}"
            key = "fact" if "fact" in pattern else "event"
            fields = self.fields_of(pattern.get(key), f"{pointer}/{key}")
            if fields is not None:
                subscribed[pattern[key]] = fields
                for field, test in _dict(pattern.get("where")).items():
                    self.where(f"{pointer}/where/{_esc(field)}", pattern[key], fields, field, test)
            if isinstance(pattern.get("as"), str):
                bindings[pattern["as"]] = fields
        return bindings

    def chart(self, data: dict, subscribed: dict[str, Fields]) -> None:
        states = data.get("states")
        check_chart(data.get("initial"), states,
                    lambda pointer, code, message, hint: self.add(pointer, code, message, hint))
        for name, state in _dict(states).items():
            for index, transition in enumerate(_list(_dict(state).get("transitions"))):
                pointer = f"/states/{_esc(name)}/transitions/{index}"
                transition = _dict(transition)
                bindings = self.single(_dict(transition.get("when")), f"{pointer}/when", subscribed)
                if "window" in _dict(transition.get("when")):
                    self.add(f"{pointer}/when/window", "E_WINDOW", "状态图迁移不支持时间窗口 / a statechart "
                             "transition cannot count events in a window")
                self.actions(f"{pointer}/actions", transition.get("actions"), bindings)

    def ladder(self, data: dict, subscribed: dict[str, Fields]) -> None:
        names: dict[str, int] = {}
        for index, level in enumerate(_list(data.get("levels"))):
            pointer, level = f"/levels/{index}", _dict(level)
            name = level.get("level")
            if isinstance(name, str) and name in names:
                self.add(f"{pointer}/level", "E_LEVEL", f"级别 {name} 重复（第 {names[name] + 1} 项已有） / level "
                         f"{name!r} is listed twice")
            names.setdefault(name, index) if isinstance(name, str) else None
            when = level.get("when")
            conditions = [(f"{pointer}/when", when)] if isinstance(when, dict) else \
                [(f"{pointer}/when/{i}", c) for i, c in enumerate(_list(when))]
            bindings: dict[str, Fields | None] = {"m": None}
            for at, condition in conditions:
                if "window" in _dict(condition):
                    self.add(f"{at}/window", "E_WINDOW", "升级条件不支持时间窗口 / an escalation level cannot count "
                             "events in a window")
                bindings = self.single(_dict(condition), at, subscribed)
            if len(conditions) > 1:
                bindings = {"m": None}  # several events may enter the level: a template field is checked at fire time
            self.actions(f"{pointer}/actions", level.get("actions"), bindings)
            notify = level.get("notify")
            if isinstance(notify, dict):
                for sub, text in walk_strings(notify):
                    self.template(f"{pointer}/notify{sub}", text, bindings, self.add)
        close = data.get("close")
        if isinstance(close, dict):
            self.single(close, "/close", subscribed)

    def fields_of(self, event: Any, pointer: str) -> Fields | None:
        if not isinstance(event, str):
            return None
        if event not in self.catalogue.events:
            self.add(pointer, "E_UNKNOWN_EVENT", f"事件目录中没有事件 {event} / unknown event {event!r}",
                     did_you_mean(event, self.catalogue.events))
            return None
        fields = EventFields({element.id: element for element in self.catalogue.event_fields(event)})
        fields.time_field = self.catalogue.events[event].time_field
        return fields

    def where(self, pointer: str, event: str, fields: Fields, field: str, test: Any) -> None:
        if field not in fields:
            self.add(pointer, "E_UNKNOWN_FIELD", f"事件 {event} 没有字段 {field} / event {event!r} has no field "
                     f"{field!r}", did_you_mean(field, fields))
            return
        element = fields[field]
        pairs = test.items() if isinstance(test, dict) else [("eq", test)]
        for op, value in pairs:
            if op not in OPERATORS or op in ("in", "not_in") and not isinstance(value, list):
                continue  # reported by the schema check
            op_pointer = f"{pointer}/{op}" if isinstance(test, dict) else pointer
            if op == "contains":
                if element.type != "string":
                    self.add(op_pointer, "E_TYPE", f"{field}（{element.name_zh}）不是文本字段，不能用 contains / "
                             f"contains needs a text field; {field!r} is a {element.type}")
                continue
            if op in ORDERING and element.type not in NUMERIC:
                self.add(op_pointer, "E_TYPE", f"{field}（{element.name_zh}）是{element.type}字段，不能比较大小 / "
                         f"ordering operator {op!r} needs a numeric field; {field!r} is a {element.type}")
                continue
            items = [(f"{op_pointer}/{i}", v) for i, v in enumerate(value)] if op in ("in", "not_in") \
                else [(op_pointer, value)]
            for item_pointer, item in items:
                problem = value_problem(element, item, self.catalogue) if _is_scalar(item) else None
                if problem:
                    self.add(item_pointer, "E_TYPE", problem)

    # -- actions and templates -------------------------------------------------------------------------------
    def actions(self, pointer: str, calls: Any, bindings: dict[str, Fields | None]) -> None:
        for index, call in enumerate(_list(calls)):
            self.action(f"{pointer}/{index}", _dict(call), bindings)

    def action(self, pointer: str, call: dict, bindings: dict[str, Fields | None], *,
               add: Any = None) -> None:
        add = add or self.add
        name = call.get("action")
        params = call.get("params", {})
        if isinstance(params, dict):
            for sub, text in walk_strings(params):
                self.template(f"{pointer}/params{sub}", text, bindings, add)
        if not isinstance(name, str):
            return
        spec = ACTIONS.get(name)
        if spec is None:
            add(f"{pointer}/action", "E_UNKNOWN_ACTION", f"动作目录中没有动作 {name} / unknown action {name!r}",
                did_you_mean(name, ACTIONS))
            return
        if not isinstance(params, dict):
            return
        try:
            spec.validate(params)
        except ValidationError as exc:
            for error in exc.errors():
                key = str(error["loc"][0]) if error["loc"] else ""
                if is_whole_placeholder(params.get(key)):
                    continue  # its type is known only once filled; checked again at fire time
                self.param_error(f"{pointer}/params", spec.name, spec.params.model_fields, error, add)

    def param_error(self, pointer: str, action: str, known: Any, error: Any, add: Any) -> None:
        loc = [str(part) for part in error["loc"]]
        where = pointer + "".join(f"/{_esc(part)}" for part in loc)
        if error["type"] == "extra_forbidden":
            add(where, "E_ACTION_PARAM", f"动作 {action} 没有参数 {loc[-1]} / action {action!r} has no "
                f"parameter {loc[-1]!r}", did_you_mean(loc[-1], known))
        elif error["type"] == "missing":
            add(where, "E_ACTION_PARAM", f"动作 {action} 缺少参数 {'.'.join(loc)} / missing parameter "
                f"{'.'.join(loc)!r} of {action!r}")
        else:
            add(where, "E_ACTION_PARAM", f"动作 {action} 的参数 {'.'.join(loc)} 不符合要求 / {error['msg']}")

    def template(self, pointer: str, text: str, bindings: dict[str, Fields | None], add: Any) -> None:
        if leftover_braces(text):
            add(pointer, "E_TEMPLATE", "模板占位符应写成 {{ 字段 }}、{{ 别名.字段 }} 或 {{ 字段 | 日期 }} / placeholders "
                "look like {{ field }}, {{ alias.field }} or {{ field | filter }}; no expressions")
        for place in placeholders(text):
            if place.filter is not None and place.filter not in FILTERS:
                add(pointer, "E_TEMPLATE", f"未知的模板过滤器 {place.filter}（可用：{'、'.join(FILTERS)}） / unknown "
                    f"filter {place.filter!r}", did_you_mean(place.filter, FILTERS))
            if place.alias is None:
                if "first" not in bindings:  # only a window binds first/last, and only a window counts
                    add(pointer, "E_TEMPLATE", f"{{{{ {place.field} }}}} 只能用于计数窗口策略 / "
                        f"{place.field!r} is only known in a windowed policy")
                continue
            if place.alias not in bindings:
                add(pointer, "E_TEMPLATE", f"模板引用了未绑定的别名 {place.alias} / unknown alias {place.alias!r} "
                    f"(bound: {list(bindings)})", did_you_mean(place.alias, bindings))
                continue
            fields = bindings[place.alias]
            if fields is None:
                continue
            name = getattr(fields, "time_field", None) if place.field == TIME else place.field
            if name not in fields:
                add(pointer, "E_TEMPLATE", f"模板引用了事件中没有的字段 {place.alias}.{place.field} / template names "
                    f"unknown field {place.alias}.{place.field}", did_you_mean(place.field, fields))
                continue
            needed = FILTER_NEEDS.get(place.filter or "")
            kind = fields[name].type
            if needed and not (kind == needed or needed == "number" and kind in NUMERIC):
                add(pointer, "E_TEMPLATE", f"过滤器 {place.filter} 不适用于{kind}字段 {place.field} / filter "
                    f"{place.filter!r} needs a {needed} field; {place.field!r} is a {kind}")

    # -- decision tables -------------------------------------------------------------------------------------
    def table(self, data: dict, when: dict, bindings: dict[str, Fields | None], partition_by: Any) -> None:
        name = data.get("table")
        if not isinstance(name, str) or "/" in name or not name.endswith((".csv", ".xlsx")):
            return  # reported by the schema check
        path = self.document.path.parent / name
        try:
            sheet = read_sheet(path)
        except TableError as exc:
            self.problems.extend(exc.problems)
            return
        self.sheet = sheet
        self.problems.extend(formula_cells(sheet))
        fields = bindings.get("m")
        event = when.get("event")
        table_problems: list[Located] = []
        conditions, params = columns(sheet, table_problems)
        if fields is not None:
            for column in conditions:
                if column.field not in fields:
                    table_problems.append(Located(str(path), sheet.header_line, f"/header/{column.index}",
                                                  "E_UNKNOWN_FIELD", f"事件 {event} 没有字段 {column.field} / event "
                                                  f"{event!r} has no field {column.field!r}",
                                                  did_you_mean(column.field, fields)))
        if not sheet.rows:
            table_problems.append(Located(str(path), sheet.header_line, "/rows", "E_TABLE",
                                          "决策表没有数据行 / the table has no rows"))
        action_index = [h.strip() for h in sheet.header].index(ACTION_COLUMN) if not table_problems or conditions \
            or params else None
        base = {k: v for k, v in _dict(when.get("where")).items()}
        for row_number, (line, cells) in enumerate(sheet.rows):
            def add(pointer: str, code: str, message: str, hint: str | None = None, _line: int = line) -> None:
                table_problems.append(Located(str(path), _line, pointer, code, message, hint))
            cells = cells + [""] * (len(sheet.header) - len(cells))
            where = dict(base)
            for column in conditions:
                text = cells[column.index]
                if not text or fields is None or column.field not in fields:
                    continue
                element = fields[column.field]
                values = [typed(element.type, v.strip()) for v in text.split("|")] if column.operator == "in" \
                    else typed(element.type, text)
                test = {column.operator: values}
                self.where_into(add, f"/rows/{row_number}/{_esc(column.name)}", event, fields, column.field, test)
                where[column.field] = {**_dict(where.get(column.field)), **test} \
                    if isinstance(where.get(column.field), dict) else test
            if action_index is None:
                continue
            call = {"action": cells[action_index],
                    "params": {c.field: cells[c.index] for c in params if cells[c.index]}}
            if not call["action"]:
                add(f"/rows/{row_number}/{ACTION_COLUMN}", "E_REQUIRED", "该行缺少动作 / the row names no action")
                continue
            self.action(f"/rows/{row_number}", call, {"m": fields}, add=add)
            if not table_problems and event is not None:
                self.table_rules.append(self.row_rule(data, event, where, call, row_number, f"{name}:{line}"))
        self.problems.extend(table_problems)

    def where_into(self, add: Any, pointer: str, event: str, fields: Fields, field: str, test: dict) -> None:
        saved, self.problems = self.problems, []
        self.where(pointer, event, fields, field, test)
        for problem in self.problems:
            # The operator is in the column's header, not in the cell: point at the cell.
            cell = pointer if problem.pointer.startswith(pointer) else problem.pointer
            index = problem.pointer[len(pointer):].split("/")[2:]  # an `in` cell's item number
            add(cell + "".join(f"/{i}" for i in index), problem.code, problem.message, problem.hint)
        self.problems = saved

    def row_rule(self, data: dict, event: str, where: dict, call: dict, row: int, origin: str) -> Rule:
        comparisons = {field: Comparison.model_validate(test) for field, test in where.items()}
        priority = row + 1  # first matching row wins: durable runs the lowest pri first
        return Rule((Match("m", event, False, comparisons),), (ActionCall.model_validate(call),), priority,
                    origin=origin)

    # -- tests -----------------------------------------------------------------------------------------------
    def test(self, pointer: str, test: dict, subscribed: dict[str, Fields], partition_by: Any) -> None:
        for index, given in enumerate(_list(test.get("given"))):
            given_pointer = f"{pointer}/given/{index}"
            given = _dict(given)
            key = "fact" if "fact" in given else "event"
            fields = self.fields_of(given.get(key), f"{given_pointer}/{key}")
            if fields is None:
                continue
            for field, value in given.items():
                if field in ("event", "fact", "id", "retract"):
                    continue
                if field not in fields:
                    self.add(f"{given_pointer}/{_esc(field)}", "E_UNKNOWN_FIELD",
                             f"事件 {given[key]} 没有字段 {field} / event {given[key]!r} has no field "
                             f"{field!r}", did_you_mean(field, fields))
                elif value is not None:
                    problem = value_problem(fields[field], value, self.catalogue)
                    if problem:
                        self.add(f"{given_pointer}/{_esc(field)}", "E_TYPE", problem)
            if given[key] in subscribed and isinstance(partition_by, str) and partition_by in fields \
                    and given.get(partition_by) is None:
                self.add(given_pointer, "E_REQUIRED", f"测试事件缺少分区字段 {partition_by} / test event lacks "
                         f"the partition field {partition_by!r}")
        for index, expected in enumerate(_list(test.get("expect"))):
            expected = _dict(expected)
            name = expected.get("action")
            if not isinstance(name, str):
                continue
            spec = ACTIONS.get(name)
            if spec is None:
                self.add(f"{pointer}/expect/{index}/action", "E_UNKNOWN_ACTION",
                         f"动作目录中没有动作 {name} / unknown action {name!r}", did_you_mean(name, ACTIONS))
                continue
            for key in _dict(expected.get("params")):
                if key not in spec.params.model_fields:
                    self.add(f"{pointer}/expect/{index}/params/{_esc(key)}", "E_ACTION_PARAM",
                             f"动作 {name} 没有参数 {key} / action {name!r} has no parameter {key!r}",
                             did_you_mean(key, spec.params.model_fields))
