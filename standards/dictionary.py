"""The bilingual data dictionary (数据字典), rendered from the catalogue as Markdown and as one HTML page.

Everything in it is read from standards/: a change to a standard changes the dictionary on the next build. Items of
medium or low confidence and code tables a city may replace are marked, so that readers know which facts are
firm and which are the platform's documented defaults.
"""
from __future__ import annotations

import html
from collections.abc import Iterable

from safecity.standards.catalogue import Catalogue, CodeTable, Element, Entity, EventType, Format

CONFIDENCE = {"H": "高 / high", "M": "中 / medium", "L": "低 / low"}
SENSITIVITY = {"public": "公开 public", "internal": "内部 internal", "sensitive": "敏感 sensitive",
               "secret": "涉密 secret"}
TYPE_ZH = {"string": "文本", "integer": "整数", "number": "数值", "boolean": "布尔", "timestamp": "时间"}


def _md(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _rules(catalogue: Catalogue, element: Element) -> str:
    rules = []
    if element.required:
        rules.append("必填 required")
    if element.format:
        rules.append(f"格式 format `{element.format}`")
    if element.pattern:
        rules.append(f"`{element.pattern}`")
    if element.max_length:
        rules.append(f"≤{element.max_length} 字符")
    if element.code_table:
        edition = f"（按 {element.edition_from} 的版本）" if element.edition_from else ""
        rules.append(f"代码表 [{element.code_table}](#code-{element.code_table}){edition}")
    if element.minimum is not None or element.maximum is not None:
        rules.append(f"范围 [{element.minimum if element.minimum is not None else '−∞'}, "
                     f"{element.maximum if element.maximum is not None else '∞'}]")
    if element.not_future:
        rules.append("不晚于当前时间 not in the future")
    if element.derive:
        source = element.derive.part or f"{element.derive.start}+{element.derive.length}"
        rules.append(f"取自 derived from `{element.derive.from_}`.{source}")
    if element.default is not None:
        rules.append(f"缺省 default `{element.default}`")
    return "; ".join(rules)


def _element_rows(catalogue: Catalogue, elements: Iterable[Element]) -> list[str]:
    rows = ["| 标识 id | 中文名 | English | 类型 type | 单位 unit | 规则 rules | 敏感级别 | 依据 source | 可信度 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for e in elements:
        rows.append(f"| `{e.id}` | {_md(e.name_zh)} | {_md(e.name_en)} | {TYPE_ZH[e.type]} {e.type} | {_md(e.unit)} | "
                    f"{_md(_rules(catalogue, e))} | {SENSITIVITY[e.sensitivity]} | {_md(e.source)} | "
                    f"{CONFIDENCE[e.confidence]} |")
        if e.description_zh or e.description_en:
            rows.append(f"| | {_md(e.description_zh)} | {_md(e.description_en)} | | | | | | |")
    return rows


def _entity_md(catalogue: Catalogue, entity: Entity) -> list[str]:
    lines = [f"### {entity.name_zh} / {entity.name_en} (`{entity.entity}`)", "",
             f"依据 Standard: {entity.standard}  ", f"主键 Key: `{', '.join(entity.key)}`"]
    if entity.time_field:
        lines[-1] += f"  ·  事件时间 Event time: `{entity.time_field}`"
    if entity.description_zh:
        lines += ["", entity.description_zh]
    if entity.in_area:
        lines += ["", f"坐标须在本市范围内 / coordinates must lie in the city: "
                      f"`{entity.in_area['longitude']}`, `{entity.in_area['latitude']}`"]
    for sequence in entity.sequences:
        lines += ["", "时间先后 / timestamps in order: " + " → ".join(f"`{s}`" for s in sequence)]
    lines += ["", _judging_md(entity)]
    return lines + [""] + _element_rows(catalogue, entity.elements) + [""]


def _judging_md(entity: Entity) -> str:
    """Which checks reject the record and which only flag the field (soft checks), and how repeats are told apart."""
    flagged = ", ".join(f"`{c}`" for c in entity.flags) or "无 none"
    repeats = "完全相同的行为 `E_DUPLICATE_ROW`（计数，不入合格表）/ an exact copy is `E_DUPLICATE_ROW` (counted)"
    if entity.updates and entity.version_field:
        repeats += (f"；`{entity.version_field}` 不同为新版本（保留，最新者生效）/ another `{entity.version_field}` is a "
                    f"new version (kept, latest wins)")
    return (f"仅标记字段、不拒收记录的检查 / checks that flag the field and keep the record: {flagged}；"
            f"其余检查拒收 / every other check rejects.  \n同一主键的重复行 / repeated keys: {repeats}；"
            f"其他为 `E_DUPLICATE_KEY` 主键冲突 / any other is a key collision `E_DUPLICATE_KEY`.")


def _event_md(catalogue: Catalogue, event: EventType) -> list[str]:
    lines = [f"### {event.name_zh} / {event.name_en} (`{event.event}`)", ""]
    if event.description_zh:
        lines += [event.description_zh, ""]
    if event.entity:
        lines += [f"字段同实体 Fields of entity [`{event.entity}`](#entity-{event.entity})", ""]
    else:
        lines += _element_rows(catalogue, event.elements or ()) + [""]
    return lines


def _table_md(table: CodeTable) -> list[str]:
    flags = [f"可信度 confidence: {CONFIDENCE[table.confidence]}"]
    if table.replaceable:
        flags.append("**城市可替换 replaceable by the city profile**")
    lines = [f'<a id="code-{table.id}"></a>', f"### {table.name_zh} / {table.name_en} (`{table.id}`)", "",
             f"依据 Standard: {table.standard}  ", " · ".join(flags)]
    for note in (table.note_zh, table.note_en):
        if note:
            lines += ["", f"> {note}"]
    has_editions = any(c.editions for c in table.codes)
    has_attributes = any(c.attributes for c in table.codes)
    header = "| 代码 code | 中文名 | English |" + (" 版本 editions |" if has_editions else "") + \
             (" 属性 attributes |" if has_attributes else "")
    lines += ["", header, "|" + "---|" * (header.count("|") - 1)]
    for c in table.codes:
        row = f"| `{c.code}` | {_md(c.name_zh)} | {_md(c.name_en)} |"
        if has_editions:
            row += f" {', '.join(c.editions) if c.editions else '全部 all'} |"
        if has_attributes:
            row += f" {_md(', '.join(f'{k}={v}' for k, v in c.attributes.items()))} |"
        lines.append(row)
    return lines + [""]


def _format_md(fmt: Format) -> list[str]:
    lines = [f"### {fmt.name_zh} / {fmt.name_en} (`{fmt.id}`)", "", f"依据 Standard: {fmt.standard} · "
             f"可信度 confidence: {CONFIDENCE[fmt.confidence]}", "", f"`{fmt.pattern}`", ""]
    if fmt.note_zh:
        lines += [f"> {fmt.note_zh}", ""]
    if fmt.parts:
        lines += ["| 组成 part | 中文名 | English | 代码表 / 时间 |", "|---|---|---|---|"]
        for name, part in fmt.parts.items():
            extra = part.code_table or part.timestamp_format or ""
            lines.append(f"| `{name}` | {_md(part.name_zh)} | {_md(part.name_en)} | {_md(extra)} |")
        lines.append("")
    if fmt.examples.valid:
        lines.append("示例 valid: " + ", ".join(f"`{v}`" for v in fmt.examples.valid))
    if fmt.examples.invalid:
        lines.append("反例 invalid: " + "; ".join(f"`{e.value}` ({_md(e.why)})" for e in fmt.examples.invalid))
    return lines + [""]


def render_markdown(catalogue: Catalogue) -> str:
    city = catalogue.city
    lines = [f"# 数据字典 / Data dictionary — {city.name_zh} {city.name_en}", "",
             "由 `safecity standards docs` 从 standards/ 生成，请勿手工修改。"
             " Generated from standards/ by `safecity standards docs`; do not edit by hand.", "",
             "可信度 confidence: 高 = 标准原文或可运行实现所见；中 = 二手资料；低 = 推断，城市可配置。"
             " High = seen in the standard or a working implementation; medium = secondary sources; "
             "low = inferred, configurable by the city.", "",
             "## 实体 / Entities", ""]
    for entity in sorted(catalogue.entities.values(), key=lambda e: e.entity):
        lines += [f'<a id="entity-{entity.entity}"></a>'] + _entity_md(catalogue, entity)
    lines += ["## 事件 / Events (rule engine)", ""]
    for event in sorted(catalogue.events.values(), key=lambda e: e.event):
        lines += _event_md(catalogue, event)
    lines += ["## 编码格式 / Formats and identifiers", ""]
    for fmt in sorted(catalogue.formats.values(), key=lambda f: f.id):
        lines += _format_md(fmt)
    lines += ["## 代码表 / Code tables", ""]
    for table in sorted(catalogue.code_tables.values(), key=lambda t: t.id):
        lines += _table_md(table)
    return "\n".join(lines).rstrip() + "\n"


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>数据字典 / Data dictionary — {city}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0; color: #1d2733; }}
header {{ position: sticky; top: 0; background: #0b3d6e; color: white; padding: .8em 1.5em; z-index: 1; }}
header input {{ font-size: 1em; padding: .35em .6em; width: 22em; border-radius: 4px; border: 0; margin-left: 1em; }}
nav {{ position: fixed; top: 4.2em; bottom: 0; width: 17em; overflow: auto; padding: 1em; background: #f3f6f9;
       font-size: .9em; }}
nav a {{ display: block; color: #0b3d6e; text-decoration: none; padding: .1em 0; }}
main {{ margin-left: 19em; padding: 1em 2em 4em; }}
section {{ margin-bottom: 2.5em; }}
table {{ border-collapse: collapse; width: 100%; font-size: .88em; margin: .6em 0; }}
th, td {{ border: 1px solid #d5dde5; padding: .3em .5em; text-align: left; vertical-align: top; }}
th {{ background: #e8eef4; }}
code {{ background: #f0f3f6; padding: 0 .25em; border-radius: 3px; }}
.badge {{ display: inline-block; padding: 0 .45em; border-radius: 3px; font-size: .8em; color: white; }}
.public {{ background: #5b8c5a; }} .internal {{ background: #4a6fa5; }} .sensitive {{ background: #c77d1a; }}
.secret {{ background: #b23a48; }} .M {{ background: #c77d1a; }} .L {{ background: #b23a48; }} .H {{ background: #5b8c5a; }}
.replaceable {{ background: #6d4aa5; }} .hidden {{ display: none; }} .meta {{ color: #56677a; font-size: .9em; }}
</style></head><body>
<header><strong>数据字典 / Data dictionary — {city}</strong>
<input id="q" placeholder="搜索 字段/代码/中文名 · search" oninput="filter(this.value)"></header>
<nav>{nav}</nav><main>
<p class="meta">由 standards/ 生成 · generated from standards/. 可信度 confidence:
<span class="badge H">高 H</span> <span class="badge M">中 M</span> <span class="badge L">低 L</span> ·
<span class="badge replaceable">城市可替换 replaceable</span></p>
{body}</main>
<script>
function filter(q) {{
  q = q.trim().toLowerCase();
  document.querySelectorAll('section').forEach(function (s) {{
    var rows = s.querySelectorAll('tbody tr'), any = !q || s.dataset.name.toLowerCase().includes(q);
    rows.forEach(function (r) {{ var hit = !q || r.textContent.toLowerCase().includes(q);
      r.classList.toggle('hidden', !hit && !any); any = any || hit; }});
    s.classList.toggle('hidden', !any);
  }});
}}
</script></body></html>
"""


def _h(text: object) -> str:
    return html.escape(str(text if text is not None else ""))


def _elements_html(catalogue: Catalogue, elements: Iterable[Element]) -> str:
    rows = "".join(
        f"<tr><td><code>{_h(e.id)}</code></td><td>{_h(e.name_zh)}</td><td>{_h(e.name_en)}</td>"
        f"<td>{TYPE_ZH[e.type]} {e.type}</td><td>{_h(e.unit)}</td><td>{_h(_rules(catalogue, e))}</td>"
        f"<td><span class='badge {e.sensitivity}'>{SENSITIVITY[e.sensitivity]}</span></td><td>{_h(e.source)}</td>"
        f"<td><span class='badge {e.confidence}'>{e.confidence}</span></td>"
        f"<td>{_h(e.description_zh)} {_h(e.description_en)}</td></tr>" for e in elements)
    return ("<table><thead><tr><th>标识 id</th><th>中文名</th><th>English</th><th>类型</th><th>单位</th><th>规则</th>"
            f"<th>敏感级别</th><th>依据</th><th>可信度</th><th>说明</th></tr></thead><tbody>{rows}</tbody></table>")


def render_html(catalogue: Catalogue) -> str:
    nav, body = [], []
    for entity in sorted(catalogue.entities.values(), key=lambda e: e.entity):
        anchor = f"entity-{entity.entity}"
        nav.append(f"<a href='#{anchor}'>{_h(entity.name_zh)} <code>{entity.entity}</code></a>")
        seq = "".join(f"<p>时间先后 / in order: {' → '.join(_h(s) for s in q)}</p>" for q in entity.sequences)
        body.append(f"<section id='{anchor}' data-name='{_h(entity.entity + ' ' + entity.name_zh)}'>"
                    f"<h2>{_h(entity.name_zh)} / {_h(entity.name_en)} <code>{entity.entity}</code></h2>"
                    f"<p class='meta'>{_h(entity.standard)} · 主键 key <code>{_h(', '.join(entity.key))}</code></p>"
                    f"{seq}{_elements_html(catalogue, entity.elements)}</section>")
    for event in sorted(catalogue.events.values(), key=lambda e: e.event):
        anchor = f"event-{event.event}"
        nav.append(f"<a href='#{anchor}'>事件 {_h(event.name_zh)}</a>")
        content = (f"<p>字段同实体 fields of <a href='#entity-{event.entity}'>{event.entity}</a></p>" if event.entity
                   else _elements_html(catalogue, event.elements or ()))
        body.append(f"<section id='{anchor}' data-name='{_h(event.event + ' ' + event.name_zh)}'>"
                    f"<h2>事件 {_h(event.name_zh)} / {_h(event.name_en)} <code>{event.event}</code></h2>{content}</section>")
    for fmt in sorted(catalogue.formats.values(), key=lambda f: f.id):
        parts = "".join(f"<tr><td><code>{_h(n)}</code></td><td>{_h(p.name_zh)}</td><td>{_h(p.name_en)}</td>"
                        f"<td>{_h(p.code_table or p.timestamp_format)}</td></tr>" for n, p in fmt.parts.items())
        examples = ", ".join(f"<code>{_h(v)}</code>" for v in fmt.examples.valid)
        body.append(f"<section id='format-{fmt.id}' data-name='{_h(fmt.id + ' ' + fmt.name_zh)}'>"
                    f"<h2>{_h(fmt.name_zh)} / {_h(fmt.name_en)} <span class='badge {fmt.confidence}'>"
                    f"{fmt.confidence}</span></h2><p class='meta'>{_h(fmt.standard)}</p><p><code>{_h(fmt.pattern)}"
                    f"</code></p><p>{_h(fmt.note_zh)}</p><table><thead><tr><th>组成 part</th><th>中文名</th>"
                    f"<th>English</th><th>代码表/时间</th></tr></thead><tbody>{parts}</tbody></table>"
                    f"<p>示例 examples: {examples}</p></section>")
        nav.append(f"<a href='#format-{fmt.id}'>格式 {_h(fmt.name_zh)}</a>")
    for table in sorted(catalogue.code_tables.values(), key=lambda t: t.id):
        rows = "".join(f"<tr><td><code>{_h(c.code)}</code></td><td>{_h(c.name_zh)}</td><td>{_h(c.name_en)}</td>"
                       f"<td>{_h(', '.join(c.editions) if c.editions else '')}</td>"
                       f"<td>{_h(', '.join(f'{k}={v}' for k, v in c.attributes.items()))}</td></tr>"
                       for c in table.codes)
        flag = "<span class='badge replaceable'>城市可替换 replaceable</span>" if table.replaceable else ""
        body.append(f"<section id='code-{table.id}' data-name='{_h(table.id + ' ' + table.name_zh)}'>"
                    f"<h2>{_h(table.name_zh)} / {_h(table.name_en)} <span class='badge {table.confidence}'>"
                    f"{table.confidence}</span> {flag}</h2><p class='meta'>{_h(table.standard)} · "
                    f"<code>{table.id}</code></p><p>{_h(table.note_zh)} {_h(table.note_en)}</p>"
                    f"<table><thead><tr><th>代码</th><th>中文名</th><th>English</th><th>版本</th><th>属性</th></tr>"
                    f"</thead><tbody>{rows}</tbody></table></section>")
        nav.append(f"<a href='#code-{table.id}'>代码 {_h(table.name_zh)}</a>")
    city = f"{catalogue.city.name_zh} {catalogue.city.name_en}"
    return PAGE.format(city=_h(city), nav="".join(nav), body="".join(body))
