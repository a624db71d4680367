"""The action catalogue (动作目录): the only things a policy can make happen, each with a typed parameter model.

Policies never run code. A firing appends an outbox record whose parameters were validated by the action's model
both when the file was loaded and again after the templates were filled, so the executor that sends alerts and
orders only ever receives well-formed requests. `summary_zh` is the one-line Chinese text stored with the record.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_serializer

Text = Annotated[str, Field(min_length=1)]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RaiseAlert(_Params):
    level: Literal["info", "warning", "critical"]
    channel: Code  # 推送渠道, e.g. ops_center (指挥中心大屏)
    message: Text


class DispatchOrder(_Params):
    unit_type: Literal["patrol_police", "traffic_police", "special_police", "drone", "fire_rescue", "medical"]
    target: Text  # 前往的点位/网格/路口编码
    reason: Text
    urgency: Literal["routine", "urgent", "emergency"] = "urgent"
    incident_id: str | None = None


class CreateWorkOrder(_Params):
    # capacity_expansion 扩容: a link too small for the video it carries (network.link_saturation).
    category: Literal["camera_repair", "network_repair", "capacity_expansion", "device_inspection",
                      "data_correction"]
    device_id: str | None = None  # the device or network element (link/node id) the order is about
    # 承办单位: who is to do the work when it is not the device's own maintainer — a network fault goes to the link's
    # operator/contractor, not to the contractor of the cameras it took down.
    assignee: str | None = None
    description: Text
    sla_hours: Annotated[int, Field(ge=1, le=72)]

    @model_serializer(mode="wrap")
    def _without_empty_assignee(self, handler):
        # Orders that name no assignee (the camera policies') keep the parameters they always had in the outbox.
        data = handler(self)
        if data.get("assignee") is None:
            data.pop("assignee", None)
        return data


class AuditFlag(_Params):
    subject: Text  # 被标记的账号、查询或数据集
    reason: Text
    severity: Literal["low", "medium", "high"] = "medium"


class ActivateEmergencyPlan(_Params):
    level: Literal["IV", "III", "II", "I"]  # 一般、较大、重大、特别重大
    incident_id: Text
    plan_id: str | None = None


class NotifyLeadership(_Params):
    audience: Literal["duty_leader", "bureau_leader", "city_leader"]
    message: Text


class AdjustSignalPlan(_Params):
    junction_id: Text
    plan: Code  # 预置配时方案编号
    duration_minutes: Annotated[int, Field(ge=1, le=240)]


class RestrictDataAccess(_Params):
    subject: Text
    scope: Text  # 数据集或数据域
    duration_hours: Annotated[int, Field(ge=1, le=720)]
    reason: Text


_LEVEL_ZH = {"info": "提示", "warning": "警告", "critical": "严重"}
_UNIT_ZH = {"patrol_police": "巡逻警力", "traffic_police": "交警", "special_police": "特警", "drone": "无人机",
            "fire_rescue": "消防救援", "medical": "医疗急救"}


def _assignee_zh(order: CreateWorkOrder) -> str:
    return f"，承办 {order.assignee}" if order.assignee else ""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    name_zh: str
    params: type[BaseModel]
    summary: Callable[[Any], str]

    def validate(self, params: Mapping[str, Any]) -> BaseModel:
        return self.params.model_validate(dict(params))

    @cached_property  # asked on every firing; the model's fields never change
    def optional(self) -> frozenset[str]:
        """The parameters the action does not require (templates.render leaves them out when unfillable)."""
        return frozenset(name for name, field in self.params.model_fields.items() if not field.is_required())

    def summary_zh(self, validated: BaseModel) -> str:
        return self.summary(validated)


ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    ActionSpec("raise_alert", "告警", RaiseAlert, lambda p: p.message),
    ActionSpec("dispatch_order", "派发调度指令", DispatchOrder,
               lambda p: f"调度{_UNIT_ZH[p.unit_type]}前往 {p.target}：{p.reason}"),
    ActionSpec("create_work_order", "创建工单", CreateWorkOrder,
               lambda p: f"工单（{p.sla_hours} 小时内处理{_assignee_zh(p)}）：{p.description}"),
    ActionSpec("audit_flag", "审计标记", AuditFlag, lambda p: f"审计标记 {p.subject}：{p.reason}"),
    ActionSpec("activate_emergency_plan", "启动应急预案", ActivateEmergencyPlan,
               lambda p: f"启动 {p.level} 级应急响应，警情 {p.incident_id}"),
    ActionSpec("notify_leadership", "报告领导", NotifyLeadership, lambda p: p.message),
    ActionSpec("adjust_signal_plan", "调整信号配时", AdjustSignalPlan,
               lambda p: f"路口 {p.junction_id} 切换配时方案 {p.plan}，持续 {p.duration_minutes} 分钟"),
    ActionSpec("restrict_data_access", "限制数据访问", RestrictDataAccess,
               lambda p: f"限制 {p.subject} 访问 {p.scope} {p.duration_hours} 小时：{p.reason}"),
)}
