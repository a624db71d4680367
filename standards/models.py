"""Pydantic models of the catalogue's entities, for APIs and small inputs, generated from the check plan.

`entity_model(catalogue, "camera")` gives a model whose validation runs the conformance statement of ingestion on
the one row (`single.py`), reports each failure with the reason code as the error type, and yields values in the
standard's types, derived parts (division, type code...) filled in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from safecity.standards.catalogue import Catalogue
from safecity.standards.single import entity_rows

PYTHON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "timestamp": dt.datetime}


def entity_model(catalogue: Catalogue, entity_name: str, now: dt.datetime | None = None) -> type[BaseModel]:
    entity = catalogue.entities[entity_name]
    statement = entity_rows(catalogue, entity_name)
    known = {e.id for e in entity.elements}

    def validate(cls, data: Any) -> dict:
        if isinstance(data, BaseModel):
            return data.model_dump()
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        checked = statement.check(data, now)
        if checked.reasons:
            errors = [{"type": PydanticCustomError(r.code, "{zh} / {en}", {"zh": r.message_zh, "en": r.message_en}),
                       "loc": (r.field,), "input": r.value} for r in checked.reasons]
            raise ValidationError.from_exception_data(entity.name_en, errors)
        return checked.typed

    fields = {e.id: (PYTHON_TYPES[e.type] | None, None) for e in entity.elements}
    model = create_model(
        "".join(part.title() for part in entity.entity.split("_")),
        __config__=ConfigDict(frozen=True),
        __doc__=f"{entity.name_zh} / {entity.name_en} ({entity.standard})",
        __validators__={"_check": model_validator(mode="before")(classmethod(validate))},
        **fields,
    )
    return model
