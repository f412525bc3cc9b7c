"""Fill-in-the-middle spans cut deterministically from a file's syntax tree.

The span kinds follow SAFIM (Gong et al., ICML 2024: block, control-flow and
API-call completion), in Elm's terms: a whole expression (a call's argument or an
operand), a case branch, a let block's definitions, one line of a function body,
and a whole declaration body; and an import line (the first of a module's imports,
when it has more: there a middle that begins a declaration can never be completed,
which pruning catches). From each file, the first span of each kind (in
source order) whose middle is short enough for a small token budget.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Iterator

from elmgrammar import ast as A
from elmgrammar import parse_module
from elmgrammar.errors import ElmSyntaxError

KINDS = ("expression", "case branch", "let block", "body line", "declaration body", "import")
# a middle longer than this would not fit 64 new tokens of a small model's vocabulary
MAX_MIDDLE = 160
MIN_MIDDLE = 4


@dataclass(frozen=True)
class FimSpan:
    """One FIM task: ``prefix + middle + suffix`` is the file; ``middle`` is the truth."""

    kind: str
    source: str
    line: int
    prefix: str
    middle: str
    suffix: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source, "line": self.line, "middle": self.middle}


def _nodes(node) -> Iterator:
    """Every AST node under ``node`` (itself first), in source order."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
        return
    if not is_dataclass(node):
        return
    yield node
    for f in fields(node):
        if f.name != "span":
            yield from _nodes(getattr(node, f.name))


def _cut(text: str, start: int, end: int) -> tuple[str, str, str]:
    return text[:start], text[start:end], text[end:]


def _fits(middle: str) -> bool:
    return MIN_MIDDLE <= len(middle.strip()) <= MAX_MIDDLE and middle == middle.strip()


def fim_spans(text: str, source: str = "") -> list[FimSpan]:
    """The spans of ``text`` (a whole Elm file): at most one per kind, the first in
    source order that fits (none for a file that does not parse)."""
    try:
        module = parse_module(text)
    except ElmSyntaxError:
        return []
    found: dict[str, FimSpan] = {}

    def offer(kind: str, start: int, end: int) -> None:
        if kind in found:
            return
        prefix, middle, suffix = _cut(text, start, end)
        if _fits(middle):
            found[kind] = FimSpan(kind, source, text.count("\n", 0, start) + 1, prefix, middle, suffix)

    if len(module.imports) >= 2:
        offer("import", module.imports[0].span.offset, module.imports[0].span.end_offset)
    for decl in module.declarations:
        if not isinstance(decl, A.ValueDeclaration):
            continue
        body = decl.body
        offer("declaration body", body.span.offset, body.span.end_offset)
        if body.span.end_line > body.span.line:
            # one line of the body: from its first character to the end of the line
            for line_no in range(body.span.line + 1, body.span.end_line + 1):
                start = _line_offset(text, line_no)
                end = text.find("\n", start)
                end = len(text) if end < 0 else end
                indent = len(text[start:end]) - len(text[start:end].lstrip())
                if start + indent < end:
                    offer("body line", start + indent, end)
                    break
        for node in _nodes(body):
            if isinstance(node, A.CaseBranch):
                offer("case branch", node.span.offset, node.span.end_offset)
            elif isinstance(node, A.Let) and node.definitions:
                offer("let block", node.definitions[0].span.offset, node.definitions[-1].span.end_offset)
            elif isinstance(node, A.Call):
                for arg in node.args if hasattr(node, "args") else []:
                    if arg.span.line == arg.span.end_line and not isinstance(arg, (A.Var, A.Literal)):
                        offer("expression", arg.span.offset, arg.span.end_offset)
        if len(found) == len(KINDS):
            break
    return [found[k] for k in KINDS if k in found]


def _line_offset(text: str, line: int) -> int:
    """The offset of the first character of ``line`` (1-based)."""
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset
