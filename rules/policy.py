"""The policy file format (策略文件格式): one YAML file = one policy = one durable-rules ruleset.

This slice knows single-event rules only: `when: {event, where}` and a list of typed actions, plus the scenario
tests that live in the same file. Windows, `all:` correlations and statecharts arrive later as further shapes of
`when` (a union discriminated by its keys) and a `kind` for statecharts; nothing here assumes there will only ever
be one pattern, except `Policy.stateless`, which the engine uses to evict state and must learn about windows.

The models check shape only. Whether an event, field, value or action exists is decided against the standards
and action catalogues by the loader, which also turns every problem into a file:line message.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

POLICY_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in")
ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_CJK = re.compile(r"[\u4e00-\u9fff]")


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

    @model_validator(mode="before")
    @classmethod
    def _bare_value_means_eq(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"eq": value}

    @model_validator(mode="after")
    def _at_least_one(self) -> "Comparison":
        if not self.operators():
            raise ValueError("give a value or one of the operators eq, ne, gt, gte, lt, lte, in "
                             "(请写出取值或比较运算符)")
        return self

    def operators(self) -> list[tuple[str, Any]]:
        """(operator, value) in the fixed order of OPERATORS, so compiled rulesets are deterministic."""
        values = {"eq": self.eq, "ne": self.ne, "gt": self.gt, "gte": self.gte, "lt": self.lt,
                  "lte": self.lte, "in": self.in_}
        return [(op, values[op]) for op in OPERATORS if values[op] is not None]


class Condition(_Strict):
    """触发条件: one event type and field tests that must all hold."""

    event: Annotated[str, Field(pattern=NAME_PATTERN)]
    where: dict[str, Comparison] = Field(default_factory=dict)


class ActionCall(_Strict):
    """动作: a name from the action catalogue; params are checked by that action's model in the loader."""

    action: Annotated[str, Field(pattern=NAME_PATTERN)]
    params: dict[str, Any] = Field(default_factory=dict)


class GivenEvent(BaseModel):
    """测试输入事件: its fields are open here and checked against the event catalogue by the loader."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event: Annotated[str, Field(pattern=NAME_PATTERN)]
    id: str | None = None

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


class Policy(_Strict):
    id: Annotated[str, Field(pattern=POLICY_ID_PATTERN)]
    version: Annotated[int, Field(ge=1)]
    title: Annotated[str, Field(min_length=2)]
    owner: Annotated[str, Field(min_length=1)]
    priority: Annotated[int, Field(ge=1, le=9)]  # 1 fires first: durable's `pri`, lower first
    partition_by: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str | None = None
    when: Condition
    actions: list[ActionCall] = Field(min_length=1)
    tests: list[PolicyTest] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title_in_chinese(cls, value: str) -> str:
        # Titles are what duty officers read in alerts and the policy list.
        if not _CJK.search(value):
            raise ValueError("title must be written in Chinese (标题应使用中文)")
        return value

    @property
    def stateless(self) -> bool:
        """True when no rule needs earlier events of the same partition, so its engine state may be dropped."""
        return True

    @property
    def subscribed_events(self) -> frozenset[str]:
        return frozenset({self.when.event})
