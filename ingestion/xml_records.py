"""XML exports and device messages as records: GB/T 28181 MANSCDP bodies (Catalog, Keepalive, DeviceStatus) as
devices send them, SIP headers and all, and XML registries such as the Hong Kong TD image list.

`records` is the dotted path of tag names from the root to the repeated record element (Response.DeviceList.Item),
matched without regard to case, since registries mix `key` with `EASTING`. A path that ends at the root makes the
root one record (a Keepalive Notify). Child elements flatten like JSON keys (Info.PTZType); an element repeated
under one parent becomes a JSON list in one column; attributes become `tag@name`.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from safecity.ingestion.readers import (MAX_KEPT_TEXT, NESTING, UTF8_BOM, RawBatch, RejectedLine, UnreadableFile,
                                        _decode, _keyed_records, _load, records_table)

# A SIP request line (MESSAGE sip:... SIP/2.0) or status line (SIP/2.0 200 OK) opens a message whose body follows
# the first empty line; GB/T 28181 devices send their XML that way.
_SIP_START = re.compile(rb"^\s*(?:[A-Z]+ sip:\S+ SIP/2\.0|SIP/2\.0 \d{3})", re.IGNORECASE)
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", re.IGNORECASE)
_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _body(data: bytes) -> tuple[bytes, int, dict[str, str]]:
    """The XML body of a SIP message (after its headers), or the file; the line the body starts on; and the SIP
    headers as columns `SIP.<Header>` (the Date header is the time a Keepalive was sent)."""
    if not _SIP_START.match(data):
        return data, 1, {}
    match = re.search(rb"\r?\n\r?\n", data)
    head = data[:match.end()] if match else data
    headers = {}
    for line in head.decode("ascii", "replace").splitlines()[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers[f"SIP{NESTING}{name.strip()}"] = value.strip()
    if match is None:
        return b"", 1, headers
    return data[match.end():], head.count(b"\n") + 1, headers


def _strip_namespace(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def flatten_element(element: ET.Element, prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    flat: dict[str, Any] = {} if into is None else into
    for name, value in element.attrib.items():
        flat[f"{prefix.rstrip(NESTING) or _strip_namespace(element.tag)}@{_strip_namespace(name)}"] = value
    groups: dict[str, list[ET.Element]] = {}
    for child in element:
        groups.setdefault(_strip_namespace(child.tag), []).append(child)
    for tag, children in groups.items():
        name = f"{prefix}{tag}"
        if len(children) > 1:
            flat[name] = json.dumps([_value(c) for c in children], ensure_ascii=False)
        elif len(children[0]):
            flatten_element(children[0], name + NESTING, flat)
        else:
            flat[name] = (children[0].text or "").strip()
            for attr, value in children[0].attrib.items():
                flat[f"{name}@{_strip_namespace(attr)}"] = value
    return flat


def _value(element: ET.Element) -> Any:
    return flatten_element(element) if len(element) else (element.text or "").strip()


def _find(root: ET.Element, records: str | None) -> list[ET.Element]:
    if not records:
        return list(root)
    steps = [s.casefold() for s in records.split(NESTING)]
    if _strip_namespace(root.tag).casefold() != steps[0]:
        return []
    found = [root]
    for step in steps[1:]:
        found = [c for parent in found for c in parent if _strip_namespace(c.tag).casefold() == step]
    return found


def read_xml(source: Path | str | bytes, encoding: str, where: str | None = None,
             records: str | None = None) -> RawBatch:
    """The records of an XML document at the tag path `records`; the position is the record's number."""
    data, where = _load(source, where)
    body, first_line, headers = _body(data)
    declared = _DECLARED.match(body.removeprefix(UTF8_BOM))
    # The body's own declaration wins (a GB2312 MANSCDP body inside an otherwise ASCII SIP message).
    text, used = _decode(where, body, declared.group(1).decode("ascii") if declared else encoding)
    text = _PROLOG.sub("", text.lstrip("\ufeff"), count=1)
    if not text.strip():
        return RawBatch(records_table([])[0], [], used)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise UnreadableFile(where, "E_XML", f"not well-formed XML: {exc} (column {column})",
                             line + first_line - 1) from None
    found = _find(root, records)
    if records and not found:
        raise UnreadableFile(where, "E_XML", f"no records at {records!r}; the document's root is "
                                             f"<{_strip_namespace(root.tag)}>", first_line)
    good, rejected = [], []
    for number, element in enumerate(found, 1):
        flat = flatten_element(element)
        if flat:
            good.append((number, flat | headers))
        else:
            rejected.append(RejectedLine(number, ET.tostring(element, encoding="unicode")[:MAX_KEPT_TEXT],
                                         "E_RECORD", f"record {number} <{element.tag}> holds no fields"))
    table, header = records_table(_keyed_records(good, rejected))
    return RawBatch(table, header, used, rejected)
