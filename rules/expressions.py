"""Condition expressions (条件表达式): `deaths >= 30`, `category in [010000, 040000]`, `text contains 火`, with
`and`, `or`, `not` and parentheses, parsed by a small recursive-descent grammar (no eval):

    expression := disjunction
    disjunction := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation := "not" negation | "(" expression ")" | comparison
    comparison := NAME ("==" | "=" | "!=" | ">=" | "<=" | ">" | "<") value
                | NAME ["not"] "in" "[" value ("," value)* "]"
                | NAME "contains" value
    value := NUMBER | "quoted text" | 'quoted text' | bare word (010000, I, 火, true, false)

A value is typed by how it is written, never by guessing from the data: quoted → text; a number without leading
zeros → number (so the code `010000` stays text, as codes are); true/false → boolean; any other bare word → text.
The loader then checks each value against the field's type in the event catalogue.

durable-rules fires at most one rule per event, and its `$or` cannot carry which branch matched, so an expression
is turned into disjunctive normal form: one conjunction per rule, in the order written. `not` is pushed down to
the comparisons (`not deaths >= 3` is `deaths < 3`); `not ... contains` has no engine form and is an error.
Every error carries the column (1-based, within the expression text) of the token it is about.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

MAX_ALTERNATIVES = 16  # one engine rule per alternative; a wider expression is almost certainly a mistake
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|>=|<=|=|>|<)|(?P<punct>[()\[\],])|(?P<quoted>"[^"]*"|'[^']*')|"""
                    r"""(?P<word>[^\s()\[\],=!<>"']+))""")
KEYWORDS = frozenset({"and", "or", "not", "in", "contains"})
OP_OF = {"==": "eq", "=": "eq", "!=": "ne", ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
SYMBOL_OF = {"eq": "==", "ne": "!=", "gte": ">=", "lte": "<=", "gt": ">", "lt": "<", "in": "in",
             "not_in": "not in", "contains": "contains"}
_NEGATE = {"eq": "ne", "ne": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt", "in": "not_in",
           "not_in": "in"}


class ExpressionError(ValueError):
    """A problem at a column (1-based) of the expression text."""

    def __init__(self, code: str, message: str, column: int, pointer: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.column = column
        self.pointer = pointer  # set where the expression's place in the file is known


@dataclass(frozen=True)
class Test:
    """One comparison: `field op value`; `value` is a list for in / not_in."""

    field: str
    op: str
    value: Any
    column: int  # of the field name
    origin: str = ""  # JSON pointer of the expression text it was written in, where known

    def negated(self) -> "Test":
        if self.op not in _NEGATE:
            raise ExpressionError("E_EXPR_NOT", f"“不包含”无法由规则引擎表达，请改写条件 / `not ... {self.op}` has no "
                                  f"engine form; rewrite the condition", self.column, self.origin)
        return Test(self.field, _NEGATE[self.op], self.value, self.column, self.origin)

    def text(self) -> str:
        value = "[" + ", ".join(map(_show, self.value)) + "]" if isinstance(self.value, list) else _show(self.value)
        return f"{self.field} {SYMBOL_OF[self.op]} {value}"


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or" | "not"
    items: tuple["Expr", ...]


Expr = Union[Test, Node]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _Token:
    kind: str  # op | punct | quoted | word | end
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = position + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise ExpressionError("E_EXPR_SYNTAX", f"无法识别的字符 {text[column - 1]!r} / unexpected character "
                                  f"{text[column - 1]!r}", column)
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def literal(token: _Token) -> Any:
    if token.kind == "quoted":
        return token.text[1:-1]
    if token.text in ("true", "false"):
        return token.text == "true"
    if _NUMBER.match(token.text):
        return float(token.text) if "." in token.text else int(token.text)
    return token.text


class _Parser:
    def __init__(self, text: str, origin: str):
        self.tokens = _tokens(text)
        self.at = 0
        self.origin = origin

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, text: str, what_zh: str) -> _Token:
        token = self.take()
        if token.text != text or token.kind not in ("punct", "word"):
            raise ExpressionError("E_EXPR_SYNTAX", f"此处应为 {what_zh}，实际为 {token.text or '结尾'} / expected "
                                  f"{text!r}, found {token.text or 'the end'!r}", token.column)
        return token

    def parse(self) -> Expr:
        expr = self.disjunction()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError("E_EXPR_SYNTAX", f"多余的内容 {token.text}（缺少 and / or？） / unexpected "
                                  f"{token.text!r} (missing and / or?)", token.column)
        return expr

    def disjunction(self) -> Expr:
        return self.chain("or", self.conjunction)

    def conjunction(self) -> Expr:
        return self.chain("and", self.negation)

    def chain(self, keyword: str, operand: Any) -> Expr:
        """operand (keyword operand)*: `or` binds looser than `and`, as written in the grammar above."""
        items = [operand()]
        while self.peek().kind == "word" and self.peek().text == keyword:
            self.take()
            items.append(operand())
        return items[0] if len(items) == 1 else Node(keyword, tuple(items))

    def negation(self) -> Expr:
        token = self.peek()
        if token.kind == "word" and token.text == "not":
            self.take()
            return Node("not", (self.negation(),))
        if token.text == "(" and token.kind == "punct":
            self.take()
            inner = self.disjunction()
            self.expect(")", "右括号 )")
            return inner
        return self.comparison()

    def comparison(self) -> Test:
        name = self.take()
        if name.kind != "word" or name.text in KEYWORDS or not re.fullmatch(r"[a-z_][a-z0-9_]*", name.text):
            raise ExpressionError("E_EXPR_SYNTAX", f"此处应为字段名，实际为 {name.text or '结尾'} / expected a field "
                                  f"name, found {name.text or 'the end'!r}", name.column)
        token = self.take()
        if token.kind == "op":
            return Test(name.text, OP_OF[token.text], self.value(), name.column, self.origin)
        if token.kind == "word" and token.text == "not":
            self.expect("in", "in")
            return Test(name.text, "not_in", self.values(), name.column, self.origin)
        if token.kind == "word" and token.text == "in":
            return Test(name.text, "in", self.values(), name.column, self.origin)
        if token.kind == "word" and token.text == "contains":
            value = self.value()
            if not isinstance(value, str) or not value:
                raise ExpressionError("E_EXPR_SYNTAX", "contains 后应为文本 / contains needs text", token.column)
            return Test(name.text, "contains", value, name.column, self.origin)
        raise ExpressionError("E_EXPR_SYNTAX", f"字段 {name.text} 之后应为比较运算符（>= <= > < == != in contains），"
                              f"实际为 {token.text or '结尾'} / expected an operator after {name.text!r}, found "
                              f"{token.text or 'the end'!r}", token.column)

    def value(self) -> Any:
        token = self.take()
        if token.kind == "quoted" or token.kind == "word" and token.text not in KEYWORDS:
            return literal(token)
        raise ExpressionError("E_EXPR_SYNTAX", f"此处应为取值，实际为 {token.text or '结尾'} / expected a value, found "
                              f"{token.text or 'the end'!r}", token.column)

    def values(self) -> list[Any]:
        self.expect("[", "左方括号 [")
        items = [self.value()]
        while self.peek().text == ",":
            self.take()
            items.append(self.value())
        self.expect("]", "右方括号 ]")
        return items


def parse(text: str, origin: str = "") -> Expr:
    """The expression tree of `text` (written at the JSON pointer `origin`); raises ExpressionError with the
    column of the offending token."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("E_EXPR_SYNTAX", "条件表达式为空 / the expression is empty", 1, origin)
    try:
        return _Parser(text, origin).parse()
    except ExpressionError as exc:
        exc.pointer = origin
        raise


def alternatives(expr: Expr) -> list[list[Test]]:
    """Disjunctive normal form: a list of conjunctions, in the order written."""
    result = _dnf(expr, False)
    if len(result) > MAX_ALTERNATIVES:
        first = _first_test(expr)
        raise ExpressionError("E_EXPR_WIDE", f"条件展开后超过 {MAX_ALTERNATIVES} 种情形，请拆分策略 / the condition "
                              f"expands to more than {MAX_ALTERNATIVES} alternatives", 1, first.origin)
    return result


def _first_test(expr: Expr) -> Test:
    return expr if isinstance(expr, Test) else _first_test(expr.items[0])


def _dnf(expr: Expr, negate: bool) -> list[list[Test]]:
    if isinstance(expr, Test):
        return [[expr.negated() if negate else expr]]
    if expr.kind == "not":
        return _dnf(expr.items[0], not negate)
    parts = [_dnf(item, negate) for item in expr.items]
    if (expr.kind == "or") != negate:  # or, or not(and) by De Morgan
        return [conj for part in parts for conj in part]
    product: list[list[Test]] = [[]]
    for part in parts:
        product = [left + right for left in product for right in part]
        if len(product) > MAX_ALTERNATIVES:
            break  # reported by alternatives(); no need to build the rest
    return product


def text_of(expr: Expr) -> str:
    """The expression written back in its canonical form (for explanations and error messages)."""
    if isinstance(expr, Test):
        return expr.text()
    if expr.kind == "not":
        return f"not ({text_of(expr.items[0])})"
    joined = f" {expr.kind} ".join(text_of(item) if isinstance(item, Test) or item.kind == "not"
                                   else f"({text_of(item)})" for item in expr.items)
    return joined


GROUP_KEYS = ("any", "all", "not")


def group_tree(raw: dict, pointer: str, parse_at: Any) -> Expr | None:
    """The expression of the `any` / `all` / `not` keys of a condition or nested group (ANDed together), or None
    when it has none. `parse_at(text, pointer)` parses one expression string, so the loader can add positions."""
    items: list[Expr] = []
    for key in GROUP_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if key == "not":
            items.append(Node("not", (_clause(value, f"{pointer}/not", parse_at),)))
            continue
        parts = tuple(_clause(item, f"{pointer}/{key}/{index}", parse_at) for index, item in enumerate(value))
        if parts:
            items.append(parts[0] if len(parts) == 1 else Node("or" if key == "any" else "and", parts))
    if not items:
        return None
    return items[0] if len(items) == 1 else Node("and", tuple(items))


def _clause(value: Any, pointer: str, parse_at: Any) -> Expr:
    if isinstance(value, dict):
        tree = group_tree(value, pointer, parse_at)
        if tree is None:
            raise ExpressionError("E_EXPR_SYNTAX", "条件组应写 any、all 或 not / a group needs any, all or not", 1,
                                  pointer)
        return tree
    return parse_at(value, pointer)
