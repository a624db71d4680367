"""The policy file format (策略文件格式): one YAML file = one policy = one durable-rules ruleset.

Kinds: `rule` (one condition, a window or a correlation of an event with facts, and actions), `decision_table`
(rows in a CSV/XLSX beside the file), `statechart` (states and transitions) and `escalation` (levels from the
most severe down, drawn into the same statechart by escalation.py). A condition tests fields with `where` and with
the expressions of `any` / `all` / `not` (expressions.py); an `or` becomes one engine rule per alternative. Rules
and tables may carry a `throttle`; scenario tests live in the same file.

The models check shape only. Whether an event, field, value or action exists is decided against the standards
and action catalogues by the loader, which also turns every problem into a file:line message.
"""
from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError,
                      field_validator, model_validator)

from safecity.config.durations import DURATION_PATTERN, duration_seconds
from safecity.rules.expressions import SYMBOL_OF, ExpressionError, Test, alternatives, group_tree, parse

POLICY_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
STATE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"  # level_IV reads better than level_iv
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains")
ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_CJK = re.compile(r"[\u4e00-\u9fff]")
# `contains` compiles to durable's own regex dialect; text with its special characters would change meaning.
CONTAINS_PATTERN = r"^[^.*+?\[\](){}|\\%^$]+$"


def _scalar(value: Any) -> Any:
    # One readable error instead of pydantic's one-error-per-union-member for `str | int | float | bool`.
    if value is None or not isinstance(value, (str, int, float, bool)):
        raise ValueError("must be a single text, number or true/false value (应为单个文本、数值或布尔值)")
    return value


Scalar = Annotated[Any, AfterValidator(_scalar)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Strict):
    """The test on one field. A bare value means `eq`; several operators on one field are all required (AND)."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    contains: Annotated[str, Field(min_length=1, pattern=CONTAINS_PATTERN)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_value_means_eq(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"eq": value}

    @model_validator(mode="after")
    def _at_least_one(self) -> "Comparison":
        if not self.operators():
            raise ValueError("give a value or one of the operators eq, ne, gt, gte, lt, lte, in, not_in, contains "
                             "(请写出取值或比较运算符)")
        return self

    def operators(self) -> list[tuple[str, Any]]:
        """(operator, value) in the fixed order of OPERATORS, so compiled rulesets are deterministic."""
        values = {"eq": self.eq, "ne": self.ne, "gt": self.gt, "gte": self.gte, "lt": self.lt,
                  "lte": self.lte, "in": self.in_, "not_in": self.not_in, "contains": self.contains}
        return [(op, values[op]) for op in OPERATORS if values[op] is not None]


ESCALATION_START = "monitoring"  # an escalation's state before any level is reached
ESCALATION_END = "closed"
MAX_WINDOW_COUNT = 8  # a window is a durable sequence of this many aliases; longer ones cost memory per partition


_WINDOW_TEXT = re.compile(r"^\s*count\s*>=\s*(?P<count>[0-9]+)\s+within\s+(?P<within>\S+)(?:\s+by\s+(?P<by>\S+))?\s*$")
_THROTTLE_TEXT = re.compile(r"^\s*once\s+within\s+(?P<within>\S+)(?:\s+by\s+(?P<by>\S+))?\s*$")


def _from_line(value: Any, pattern: re.Pattern, usage: str) -> Any:
    """A one-line spelling (`count >= 3 within 30m by junction_id`) as the model's fields; other values as given."""
    if not isinstance(value, str):
        return value
    match = pattern.match(value)
    if match is None:
        raise ValueError(usage)
    return {key: text for key, text in match.groupdict().items() if text is not None}


class _Span(_Strict):
    """A span of event time for one value of `by`, also written as one line (see LINE)."""

    LINE: ClassVar[re.Pattern]
    USAGE: ClassVar[str]

    within: Annotated[str, Field(pattern=DURATION_PATTERN)]
    by: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        return _from_line(value, cls.LINE, cls.USAGE)

    @property
    def seconds(self) -> int:
        return duration_seconds(self.within)


class Window(_Span):
    """计数窗口: `count` matching events of one partition within `within`, measured on event time (not arrival).
    Also written as one line: `count >= 3 within 30m by junction_id` (`by` must be the policy's partition_by)."""

    LINE: ClassVar[re.Pattern] = _WINDOW_TEXT
    USAGE: ClassVar[str] = "write the window as `count >= N within 30m by field` (窗口写法：count >= 次数 within 时长 by 分区字段)"

    count: Annotated[int, Field(ge=2, le=MAX_WINDOW_COUNT)]


class Throttle(_Span):
    """限频: after the policy fires for one value of `by`, it stays silent for that value for `within` (event
    time), e.g. one alert per camera in two hours instead of one per health record. One line:
    `once within 2h by camera_id` (`by` defaults to the policy's partition_by)."""

    LINE: ClassVar[re.Pattern] = _THROTTLE_TEXT
    USAGE: ClassVar[str] = "write the throttle as `once within 2h by field` (限频写法：once within 时长 by 字段)"


class Group(_Strict):
    """条件组: `any` (one of), `all` (each of), `not`; items are expressions such as `deaths >= 30` or groups."""

    any_: list[Clause] | None = Field(default=None, alias="any", min_length=1)
    all_: list[Clause] | None = Field(default=None, alias="all", min_length=1)
    not_: Clause | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _something(self) -> "Group":
        if self.any_ is None and self.all_ is None and self.not_ is None:
            raise ValueError("a group needs any, all or not (条件组应写 any、all 或 not)")
        return self


Clause = Union[Annotated[str, Field(min_length=1)], Group]
Group.model_rebuild()


class Condition(_Strict):
    """触发条件: one event type and tests that must all hold: `where` field tests and/or the expressions of
    `any` / `all` / `not`; with `window`, N such events in a time span. An `or` becomes one engine rule per
    alternative (durable fires one rule per event), in the order written."""

    event: Annotated[str, Field(pattern=NAME_PATTERN)]
    where: dict[str, Comparison] = Field(default_factory=dict)
    any_: list[Clause] | None = Field(default=None, alias="any", min_length=1)
    all_: list[Clause] | None = Field(default=None, alias="all", min_length=1)
    not_: Clause | None = Field(default=None, alias="not")
    window: Window | None = None

    def alternatives(self) -> list[dict[str, Comparison]]:
        """The field tests of each alternative; raises ExpressionError for an expression the loader would reject."""
        raw = self.model_dump(by_alias=True, include={"any_", "all_", "not_"}, exclude_none=True)
        tree = group_tree(raw, "", lambda text, pointer: parse(text))
        if tree is None:
            return [dict(self.where)]
        return [merge_tests(self.where, tests) for tests in alternatives(tree)]


def merge_tests(where: dict[str, Comparison], tests: list[Test]) -> dict[str, Comparison]:
    """`where` plus the tests of one alternative, as one Comparison per field (all of its operators must hold)."""
    ops: dict[str, dict[str, Any]] = {f: dict(c.operators()) for f, c in where.items()}
    for test in tests:
        field_ops = ops.setdefault(test.field, {})
        if test.op in ("ne", "not_in") and ({"ne", "not_in"} & field_ops.keys()):
            excluded = [field_ops.pop("ne")] if "ne" in field_ops else field_ops.pop("not_in")
            field_ops["not_in"] = excluded + (test.value if test.op == "not_in" else [test.value])
        elif test.op in field_ops:
            raise ExpressionError("E_EXPR_TWICE", f"同一条件中字段 {test.field} 的 {SYMBOL_OF[test.op]} 写了两次，请合并 / "
                                  f"{test.field} {SYMBOL_OF[test.op]} is given twice in one alternative",
                                  test.column, test.origin)
        else:
            field_ops[test.op] = test.value
    merged = {}
    for field, field_ops in ops.items():
        try:
            merged[field] = Comparison.model_validate(field_ops)
        except ValidationError as exc:
            first = next((t for t in tests if t.field == field), None)
            reason = "; ".join(e["msg"] for e in exc.errors())
            column, origin = (first.column, first.origin) if first else (1, "")
            raise ExpressionError("E_EXPR_VALUE", f"字段 {field} 的取值不符合要求（contains 的文本不能含 . * + ? [ ] ( ) "
                                  f"{{ }} | \\ % ^ $） / invalid value for {field}: {reason}", column, origin) from None
    return merged


class Pattern(_Strict):
    """关联条件中的一项: an event, or a fact that the platform asserts and retracts (e.g. camera_down)."""

    as_: Annotated[str, Field(alias="as", pattern=NAME_PATTERN)]
    event: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    fact: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    where: dict[str, Comparison] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _event_or_fact(self) -> "Pattern":
        if (self.event is None) == (self.fact is None):
            raise ValueError("give exactly one of event or fact (event 与 fact 二选一)")
        return self

    @property
    def type(self) -> str:
        return self.event or self.fact or ""


class Correlation(_Strict):
    """关联: one event joined with facts of the same partition; fires when the event arrives while the facts hold."""

    all: list[Pattern] = Field(min_length=2, max_length=MAX_WINDOW_COUNT)

    @model_validator(mode="after")
    def _one_event(self) -> "Correlation":
        events = [p for p in self.all if p.event is not None]
        if len(events) != 1:
            raise ValueError("a correlation joins exactly one event with facts (关联条件应恰好包含一个事件，其余为事实)")
        aliases = [p.as_ for p in self.all]
        if len(set(aliases)) != len(aliases):
            raise ValueError("aliases (as) must differ (别名不能重复)")
        return self

    @property
    def trigger(self) -> Pattern:
        return next(p for p in self.all if p.event is not None)


def when_kind(value: Any) -> str:
    # A correlation's `all` lists patterns (with `as`); a condition's `all` lists expressions.
    if isinstance(value, dict) and isinstance(value.get("all"), list) and "event" not in value:
        return "all"
    return "one"


When = Annotated[Union[Annotated[Condition, Tag("one")], Annotated[Correlation, Tag("all")]],
                 Discriminator(when_kind)]


class ActionCall(_Strict):
    """动作: a name from the action catalogue; params are checked by that action's model in the loader."""

    action: Annotated[str, Field(pattern=NAME_PATTERN)]
    params: dict[str, Any] = Field(default_factory=dict)


class GivenEvent(BaseModel):
    """测试输入: an event, or a fact asserted (or, with `retract: true`, retracted). Its fields are open here and
    checked against the event catalogue by the loader."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    fact: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    retract: bool = False
    id: str | None = None

    @model_validator(mode="after")
    def _event_or_fact(self) -> "GivenEvent":
        if (self.event is None) == (self.fact is None):
            raise ValueError("give exactly one of event or fact (event 与 fact 二选一)")
        if self.retract and self.fact is None:
            raise ValueError("only a fact can be retracted (只有事实可以撤销)")
        return self

    @property
    def type(self) -> str:
        return self.event or self.fact or ""

    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Expectation(_Strict):
    """期望动作: the action must fire, in this order, with at least these parameter values."""

    action: Annotated[str, Field(pattern=NAME_PATTERN)]
    params: dict[str, Any] = Field(default_factory=dict)


class PolicyTest(_Strict):
    __test__: ClassVar[bool] = False

    name: Annotated[str, Field(min_length=1)]
    given: list[GivenEvent] = Field(min_length=1)
    expect: list[Expectation] = Field(default_factory=list)


class Transition(_Strict):
    """状态迁移: on an event matching `when`, move to `to` and run the actions (escalation steps)."""

    to: Annotated[str, Field(pattern=STATE_PATTERN)]
    when: Condition
    priority: Annotated[int, Field(ge=1, le=9)] | None = None  # lower wins when two transitions match one event
    actions: list[ActionCall] = Field(default_factory=list)


class State(_Strict):
    """状态: a state without transitions is final."""

    transitions: list[Transition] = Field(default_factory=list)


class Notify(_Strict):
    """通报: who is told on entering a level (the notify_leadership action)."""

    audience: Literal["duty_leader", "bureau_leader", "city_leader"]
    message: Annotated[str, Field(min_length=1)]


class Level(_Strict):
    """升级级别: entered when any of `when` holds; runs `actions`, then tells `notify`."""

    level: Annotated[str, Field(pattern=STATE_PATTERN)]
    name: str | None = None  # 级别名称, e.g. 特别重大
    when: list[Condition] = Field(min_length=1)
    actions: list[ActionCall] = Field(default_factory=list)
    notify: Notify | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @property
    def state(self) -> str:
        return f"level_{self.level}"


KINDS = ("rule", "statechart", "decision_table", "escalation")
KIND_FIELDS = {"rule": ("when", "actions"), "statechart": ("initial", "states"), "decision_table": ("when", "table"),
                "escalation": ("levels", "close")}
KIND_KEYS = ("when", "actions", "table", "initial", "states", "levels", "close")


class Policy(_Strict):
    id: Annotated[str, Field(pattern=POLICY_ID_PATTERN)]
    version: Annotated[int, Field(ge=1)]
    kind: Literal["rule", "statechart", "decision_table", "escalation"] = "rule"
    title: Annotated[str, Field(min_length=2)]
    owner: Annotated[str, Field(min_length=1)]
    priority: Annotated[int, Field(ge=1, le=9)]  # 1 fires first: durable's `pri`, lower first
    partition_by: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str | None = None
    idle_after: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = None  # evict a partition idle this long
    when: When | None = None
    actions: list[ActionCall] = Field(default_factory=list)
    table: Annotated[str, Field(pattern=r"^[^/\\]+\.(csv|xlsx)$")] | None = None  # beside the policy file
    initial: Annotated[str, Field(pattern=STATE_PATTERN)] | None = None
    states: dict[Annotated[str, Field(pattern=STATE_PATTERN)], State] | None = None
    throttle: Throttle | None = None  # rule and decision_table only: a chart remembers by its states
    levels: list[Level] | None = Field(default=None, min_length=2)  # most severe first
    only_up: bool = True  # levels only go up: no transition to a less severe level
    close: Condition | None = None  # what ends the escalation
    tests: list[PolicyTest] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title_in_chinese(cls, value: str) -> str:
        # Titles are what duty officers read in alerts and the policy list.
        if not _CJK.search(value):
            raise ValueError("title must be written in Chinese (标题应使用中文)")
        return value

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "Policy":
        # The loader reports the same problems with their lines; this keeps hand-built models consistent.
        problems = kind_problems(self.kind, {name: getattr(self, name) for name in KIND_KEYS})
        if self.throttle is not None and self.is_chart:
            problems.append(("throttle", "E_KIND", "状态图和分级升级不用限频，由状态决定是否重复 / a chart or escalation "
                             "has no throttle: its states decide what repeats"))
        if problems:
            raise ValueError("; ".join(message for _, _, message in problems))
        return self

    @property
    def is_chart(self) -> bool:
        """Escalations compile to the same statechart as a hand-written one."""
        return self.kind in ("statechart", "escalation")

    @property
    def chart_initial(self) -> str | None:
        if self.kind == "escalation":
            return ESCALATION_START
        return self.initial

    @cached_property  # the engine asks on every event; the model is frozen, so the answer never changes
    def chart_states(self) -> dict[str, State]:
        if self.kind == "escalation":
            from safecity.rules.escalation import ladder_states  # it builds States from this module's models
            return ladder_states(self)
        return dict(self.states or {})

    @cached_property  # asked per event by the engine; frozen model, as chart_states
    def stateless(self) -> bool:
        """True when no rule needs earlier events or facts of the partition, so its engine state may be dropped."""
        return self.kind in ("rule", "decision_table") and isinstance(self.when, Condition) \
            and self.when.window is None

    @property
    def conditions(self) -> list[Condition | Pattern]:
        if self.is_chart:
            return [t.when for state in self.chart_states.values() for t in state.transitions]
        if isinstance(self.when, Correlation):
            return list(self.when.all)
        return [self.when] if self.when is not None else []

    @property
    def subscribed_events(self) -> frozenset[str]:
        return frozenset(c.event for c in self.conditions if c.event is not None)

    @property
    def fact_types(self) -> frozenset[str]:
        return frozenset(c.fact for c in self.conditions if isinstance(c, Pattern) and c.fact is not None)

    @cached_property  # asked per event by the engine; frozen model, as chart_states
    def window_seconds(self) -> int | None:
        return self.when.window.seconds if isinstance(self.when, Condition) and self.when.window else None

    @property
    def throttle_key(self) -> str | None:
        return (self.throttle.by or self.partition_by) if self.throttle else None

    @cached_property  # asked per event by the engine; frozen model, as chart_states
    def idle_seconds(self) -> int | None:
        if self.idle_after:
            return duration_seconds(self.idle_after)
        return 2 * self.window_seconds if self.window_seconds else None


def kind_problems(kind: Any, present: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, code, bilingual message) for keys a policy of this kind needs or must not have."""
    if kind not in KIND_FIELDS:
        return []
    needed = KIND_FIELDS[kind]
    problems = []
    for key in needed:
        if present.get(key) in (None, [], {}):
            problems.append((key, "E_REQUIRED", f"{kind} 类策略必须写 {key} / a {kind} policy needs {key!r}"))
    for key in KIND_KEYS:
        if key not in needed and present.get(key) not in (None, [], {}):
            problems.append((key, "E_KIND", f"{kind} 类策略不能写 {key} / a {kind} policy has no {key!r}"))
    return problems
