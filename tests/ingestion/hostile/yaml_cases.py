"""Families of hostile YAML — source mappings and policy files — each with the exact error it must give: the code,
and the JSON pointer (and so the line) it names."""
from __future__ import annotations

import pytest

from safecity.ingestion.mapping import SOURCES_DIR

BASE = (SOURCES_DIR / "video_platform_catalog_csv.yaml").read_text(encoding="utf-8")


def mapping_with(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def landing_escapes():
    folders = ["../..", "..", "../etc", "cameras/../../etc", "/etc", "/", "~/", "~root", "C:\\\\Windows", "c:/x",
               "..\\\\..\\\\etc", "cameras/..", "./../x", "a/b/../../..", "\\\\\\\\server\\\\share", ""]
    for folder in folders:
        yield pytest.param(mapping_with("landing: cameras", f'landing: "{folder}"'), "E_TYPE", "/landing",
                           id=f"mapping-landing-{folder or 'empty'}")
    for pattern in ("../*.csv", "*/../../*", "/etc/passwd", "..", "a\\\\b", ""):
        yield pytest.param(mapping_with('pattern: "*.csv"', f'pattern: "{pattern}"'), "E_TYPE", "/pattern",
                           id=f"mapping-pattern-{pattern or 'empty'}")


def codecs():
    for codec in ("unicode_escape", "raw_unicode_escape", "rot13", "rot_13", "base64", "hex", "zlib", "bz2",
                  "uu", "quopri", "punycode", "idna", "utf-7", "undefined", "mbcs", "no-such-codec"):
        yield pytest.param(mapping_with("encoding: gb18030", f"encoding: {codec}"), "E_TYPE", "/encoding",
                           id=f"mapping-codec-{codec}")


def conversions():
    for scale in (".nan", ".NaN", ".inf", "-.inf", "+.inf", "0", "0.0", "abc", "[]"):
        text = mapping_with("  经度: longitude", f"  经度: {{ element: longitude, scale: {scale} }}")
        yield pytest.param(text, "E_TYPE", "/columns/经度/scale", id=f"mapping-scale-{scale}")
    for fmt in ("%Q", "%Y%m%d%s", "%E", "%Y%", "%Y-%m-%d %K", "no directives", "%Ez", "%"):
        text = mapping_with("  经度: longitude", f"  经度: longitude\n  安装时间: {{ element: install_time, "
                                                 f"time_format: \"{fmt}\" }}")
        yield pytest.param(text, "E_TYPE", "/columns/安装时间/time_format", id=f"mapping-time-format-{fmt}")
    for zone in ("Mars/Olympus", "+08:00", "CST-8", "../../etc/localtime"):
        text = mapping_with("  经度: longitude", f"  经度: longitude\n  安装时间: {{ element: install_time, "
                                                 f"time_zone: \"{zone}\" }}")
        yield pytest.param(text, "E_TYPE", "/columns/安装时间/time_zone", id=f"mapping-time-zone-{zone}")


def two_columns_one_element():
    for column, element in (("设备编码", "device_id"), ("设备名称", "name"), ("经度", "longitude"),
                            ("在线状态", "status"), ("用途", "use_type")):
        for other in ("别名", "Name", "设备名称2"):
            text = mapping_with(f"  {column}: {element}\n", f"  {column}: {element}\n  {other}: {element}\n")
            yield pytest.param(text, "E_DUPLICATE_ELEMENT", f"/columns/{other}",
                               id=f"mapping-two-columns-{element}-{other}")


def yaml_bombs(pointer: str = ""):
    """Alias bombs, deep nesting and tags: refused before any tree is built, in any YAML file people edit."""
    for levels in (6, 7, 9):
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        for n in range(1, levels):
            lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
        yield "bomb", f"alias-bomb-{levels}", "\n".join(lines) + "\n", "E_LIMIT"
    many = "x: &x 1\n" + "".join(f"k{n}: *x\n" for n in range(150))
    yield "bomb", "aliases-150", many, "E_LIMIT"
    for depth in (65, 200, 10_000):
        yield "deep", f"flow-nesting-{depth}", "a: " + "[" * depth + "]" * depth + "\n", "E_LIMIT"
        yield "deep", f"map-nesting-{depth}", "a: " + "{b: " * depth + "1" + "}" * depth + "\n", "E_LIMIT"
    for depth in (70, 300):
        yield "deep", f"block-nesting-{depth}", "".join("  " * i + f"k{i}:\n" for i in range(depth)), "E_LIMIT"
    for tag in ("!foo [1, 2]", "!!set {a, b}", "!!binary aGVsbG8=", "!!python/object:os.system {}",
                "!!omap [{a: 1}]", "!!pairs [{a: 1}]", "!custom x", "!!timestamp 2020-01-01"):
        yield "tag", f"tag-{tag.split()[0]}", f"id: x\nvalue: {tag}\n", "E_YAML"
    for name, text in (("tab-indent", "a:\n\t- 1\n"), ("nul", "a: \x00\n"), ("unclosed", "a: [1, 2\n"),
                       ("duplicate-key", "a: 1\na: 2\n"), ("bad-escape", 'a: "\\q"\n')):
        yield "syntax", name, text, "E_YAML"


def mapping_cases():
    for family in (landing_escapes, codecs, conversions, two_columns_one_element):
        yield from family()
    for _, name, text, code in yaml_bombs():
        yield pytest.param(text, code, None, id=f"mapping-{name}")


def policy_cases():
    for _, name, text, code in yaml_bombs():
        yield pytest.param(text, code, id=f"policy-{name}")
