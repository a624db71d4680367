"""The independent oracle of the agreement tests: the check plan (standards/checks.py) run on one row in plain
Python, written apart from the SQL conformer (standards/conform.py), which is the platform's only implementation.

Test-only: it exists so that tests/standards/test_agreement.py compares two implementations that share nothing
but the plan and its text forms, and so that a change to either shows up as a disagreement on generated rows.
"""
from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass, field

from safecity.standards.checks import (BLANKS, FUTURE_SKEW, OFF_THE_CLOCK, PLACEHOLDER_TOLERANCE, TEXT_FORMS, TRUE_TEXTS, ElementPlan,
                                       EntityPlan, compiled)


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    value: str | None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip(BLANKS)
    return text or None


def _strptime(text: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


@dataclass
class RowChecker:
    """The plan run on one row of text values (a dict keyed by element id)."""

    plan: EntityPlan
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def __post_init__(self) -> None:
        self._zone = zoneinfo.ZoneInfo(self.plan.timezone)
        self._floor = dt.datetime.fromisoformat(self.plan.entity.time_floor).replace(tzinfo=self._zone)

    def value(self, row: dict, p: ElementPlan) -> str | None:
        if p.derive_from is None:
            text = _text(row.get(p.element.id))
            return p.element.default if text is None else text
        source = _text(row.get(p.derive_from))
        if source is None:
            return None
        if p.derive_slice:
            start, length = p.derive_slice
            return source[start - 1:start - 1 + length] or None
        match = compiled(p.derive_pattern).search(source)
        return (match.group(p.derive_group) or None) if match else None

    def _source_well_formed(self, row: dict, p: ElementPlan) -> bool:
        source = self.plan.element(p.derive_from)
        text = self.value(row, source)
        return text is not None and (source.pattern is None or compiled(source.pattern).search(text) is not None)

    def parse_timestamp(self, text: str) -> dt.datetime | None:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self._zone)

    def typed(self, p: ElementPlan, text: str | None):
        """The value in the standard's type (None where the text does not convert)."""
        if text is None:
            return None
        kind = p.element.type
        if kind != "string" and not compiled(TEXT_FORMS[kind]).search(text):
            return None
        if kind == "integer":
            number = int(text)
            return number if -2 ** 63 <= number < 2 ** 63 else None
        if kind == "number":
            number = float(text)
            return number if math.isfinite(number) else None
        if kind == "boolean":
            return text.lower() in TRUE_TEXTS
        if kind == "timestamp":
            return self.parse_timestamp(text)
        return text

    def element_reason(self, row: dict, p: ElementPlan) -> Reason | None:
        element, text = p.element, self.value(row, p)
        guard = p.derive_from is None or self._source_well_formed(row, p)

        def reason(code: str) -> Reason:
            return Reason(code, element.id, text)

        if element.required and guard and text is None:
            return reason("E_REQUIRED")
        if text is None:
            return None
        if element.type == "timestamp" and compiled(TEXT_FORMS["timestamp"]).search(text) \
                and compiled(OFF_THE_CLOCK).search(text):
            return reason("E_RANGE")
        typed = self.typed(p, text)
        if element.type != "string" and typed is None:
            return reason("E_TYPE")
        if p.pattern and not compiled(p.pattern).search(text):
            return reason("E_FORMAT")
        if element.max_length and len(text) > element.max_length:
            return reason("E_FORMAT")
        match = compiled(p.pattern).search(text) if p.pattern else None
        for part in p.part_checks:
            piece = match.group(part.group) if match else None
            if part.timestamp_format and piece is not None and not _strptime(piece, part.timestamp_format):
                return reason("E_FORMAT")
        if p.codes is not None and guard:
            edition = self.value(row, self.plan.element(p.edition_from)) if p.edition_from else None
            allowed = p.codes.get(edition, p.codes[None])
            if text not in allowed:
                return reason("E_CODE")
        for part in p.part_checks:
            piece = match.group(part.group) if match else None
            if part.codes is not None and piece is not None and piece not in part.codes:
                return reason("E_CODE")
        if element.type in ("integer", "number"):
            if element.minimum is not None and typed < element.minimum or \
                    element.maximum is not None and typed > element.maximum:
                return reason("E_RANGE")
        if element.type == "timestamp" and typed < self._floor:
            return reason("E_RANGE")
        if element.type == "timestamp" and element.not_future and typed > self.now + FUTURE_SKEW:
            return reason("E_FUTURE_TIME")
        return None

    def reasons(self, row: dict) -> list[Reason]:
        """Every reason of the row except E_DUPLICATE_KEY and E_DUPLICATE_ROW (which need the other rows of the batch)."""
        found = [r for r in (self.element_reason(row, p) for p in self.plan.elements) if r]
        failed = {r.field for r in found}
        if self.plan.area:
            lon_id, lat_id, (min_lon, max_lon, min_lat, max_lat) = self.plan.area
            if lon_id not in failed and lat_id not in failed:
                lon = self.typed(self.plan.element(lon_id), self.value(row, self.plan.element(lon_id)))
                lat = self.typed(self.plan.element(lat_id), self.value(row, self.plan.element(lat_id)))
                placeholder = lon is not None and lat is not None and any(
                    abs(lon - x) < PLACEHOLDER_TOLERANCE and abs(lat - y) < PLACEHOLDER_TOLERANCE
                    for x, y in self.plan.placeholders)
                if placeholder:
                    found.append(Reason("E_PLACEHOLDER_POSITION", lon_id, f"{self.value(row, self.plan.element(lon_id))},"
                                                                          f"{self.value(row, self.plan.element(lat_id))}"))
                elif lon is not None and lat is not None and not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
                    found.append(Reason("E_OUT_OF_AREA", lon_id, f"{self.value(row, self.plan.element(lon_id))},"
                                                                 f"{self.value(row, self.plan.element(lat_id))}"))
        for sequence in self.plan.sequences:
            times = {f: self.typed(self.plan.element(f), self.value(row, self.plan.element(f)))
                     for f in sequence if f not in failed}
            for index, later in enumerate(sequence):
                # A step earlier than any step before it (a missing step in between does not hide that).
                if times.get(later) is not None and any(
                        times.get(earlier) is not None and times[later] < times[earlier] for earlier in sequence[:index]):
                    found.append(Reason("E_ORDER", later, self.value(row, self.plan.element(later))))
        return found
