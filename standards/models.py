"""Pydantic models of the catalogue's entities, for APIs and small inputs, generated from the check plan.

`entity_model(catalogue, "camera")` gives a model whose validation runs exactly the checks of the vectorised
validator (checks.RowChecker runs the same plan), reports each failure with the reason code as the error type, and
yields values in the standard's types, derived parts (division, type code...) filled in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from safecity.standards.catalogue import Catalogue
from safecity.standards.checks import RowChecker, plan

PYTHON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "timestamp": dt.datetime}


def as_text(value: Any) -> str | None:
    """The text form of an API value, as a source file would have written it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def entity_model(catalogue: Catalogue, entity_name: str, now: dt.datetime | None = None) -> type[BaseModel]:
    entity_plan = plan(catalogue, entity_name)
    checker = RowChecker(entity_plan, now) if now else RowChecker(entity_plan)
    messages = {c.code: c for c in catalogue.code_tables["reasons"].codes}
    entity = entity_plan.entity

    def validate(cls, data: Any) -> dict:
        if isinstance(data, BaseModel):
            return data.model_dump()
        unknown = sorted(set(data) - {p.element.id for p in entity_plan.elements})
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        row = {key: as_text(value) for key, value in data.items()}
        reasons = checker.reasons(row)
        if reasons:
            errors = []
            for reason in reasons:
                element = entity.element(reason.field)
                text = messages[reason.code]
                errors.append({
                    "type": PydanticCustomError(reason.code, "{zh} / {en}",
                                                {"zh": f"{element.name_zh}：{text.name_zh}",
                                                 "en": f"{element.name_en}: {text.name_en}"}),
                    "loc": (reason.field,), "input": reason.value})
            raise ValidationError.from_exception_data(entity.name_en, errors)
        return {p.element.id: checker.typed(p, checker.value(row, p)) for p in entity_plan.elements}

    fields = {p.element.id: (PYTHON_TYPES[p.element.type] | None, None) for p in entity_plan.elements}
    model = create_model(
        "".join(part.title() for part in entity.entity.split("_")),
        __config__=ConfigDict(frozen=True),
        __doc__=f"{entity.name_zh} / {entity.name_en} ({entity.standard})",
        __validators__={"_check": model_validator(mode="before")(classmethod(validate))},
        **fields,
    )
    return model
