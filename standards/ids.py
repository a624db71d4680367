"""Decoders for the ID schemes and plate numbers of the catalogue's formats (GB/T 28181, GA/T 1400, GA 36).

A decoder reads a value into its named parts, each with its label from the part's code table, and says what is
wrong when it cannot (a part that is not a known code, a time inside an ID that is no real time). GB/T 28181
codes are read in the edition the value was written in, since industry and network codes changed meaning in 2022.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from safecity.standards.catalogue import Catalogue
from safecity.standards.checks import compiled

GAT1400_BY_LENGTH = {
    20: "gb28181_id",
    30: "gat1400_case_object_id",
    33: "gat1400_business_object_id",
    41: "gat1400_basic_object_id",
    48: "gat1400_image_content_id",
}


@dataclass(frozen=True)
class Part:
    value: str
    name_zh: str
    label_zh: str | None = None
    label_en: str | None = None
    time: dt.datetime | None = None


@dataclass
class Decoded:
    format: str
    value: str
    parts: dict[str, Part] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def decode(catalogue: Catalogue, format_id: str, value: str, edition: str | None = None) -> Decoded:
    fmt = catalogue.formats[format_id]
    result = Decoded(format_id, value)
    match = compiled(fmt.pattern).search(value.strip())
    if match is None:
        result.problems.append(f"不符合{fmt.name_zh}的格式 / does not match {fmt.name_en}")
        return result
    for name, text in match.groupdict().items():
        if text is None:
            continue
        spec = fmt.parts.get(name)
        if spec is None:
            result.parts[name] = Part(text, name)
            continue
        label = label_en = time = None
        if spec.code_table:
            code = catalogue.code_tables[spec.code_table].lookup(text, edition)
            if code is None:
                result.problems.append(f"{spec.name_zh} {text} 不在代码表 {spec.code_table} 中 / "
                                       f"{spec.name_en} {text} is not in {spec.code_table}")
            else:
                label, label_en = code.name_zh, code.name_en
        if spec.timestamp_format:
            try:
                time = dt.datetime.strptime(text, spec.timestamp_format)
            except ValueError:
                result.problems.append(f"{spec.name_zh} {text} 不是有效时间 / {spec.name_en} {text} is not a valid time")
        result.parts[name] = Part(text, spec.name_zh, label, label_en, time)
    return result


def decode_gb28181(catalogue: Catalogue, device_id: str, edition: str = "2016") -> Decoded:
    return decode(catalogue, "gb28181_id", device_id, edition)


def decode_gat1400(catalogue: Catalogue, object_id: str) -> Decoded:
    """A GA/T 1400 identifier, its kind told by its length (20, 30, 33, 41 or 48 characters)."""
    value = object_id.strip()
    format_id = GAT1400_BY_LENGTH.get(len(value))
    if format_id is None or format_id not in catalogue.formats:
        result = Decoded("gat1400", value)
        result.problems.append(f"长度 {len(value)} 不是 GA/T 1400 标识的长度 (20/30/33/41/48) / "
                               f"length {len(value)} is no GA/T 1400 identifier length")
        return result
    return decode(catalogue, format_id, value)


def parse_plate(catalogue: Catalogue, plate: str) -> Decoded:
    """A plate number normalised (upper case, separators removed) and split into province, authority, serial."""
    normalised = "".join(ch for ch in plate.strip().upper() if ch not in " -·.")
    return decode(catalogue, "plate_no", normalised)
