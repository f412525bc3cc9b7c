"""tree-sitter-elm, the editors' Elm grammar, as a cross-check.

Loaded from the ``tree-sitter-language-pack`` wheel (which bundles tree-sitter-elm)
through the ``tree-sitter`` package. tree-sitter recovers from errors and its external
scanner is lenient about layout, so it accepts some code the compiler rejects: its
verdicts are a second opinion, never the reference.

Positions: tree-sitter counts rows from 0 and columns in bytes; this module reports
1-based lines and 1-based columns in characters, as the Elm compiler does.

Declaration spans: tree-sitter keeps comments as separate top-level ``line_comment`` /
``block_comment`` nodes (a doc comment is not part of its declaration), and a
declaration node ends at its last token, not at trailing blank lines or comments.
:meth:`TreeSitterElm.declaration_spans` nevertheless trims any comment or zero-width
node off the end of a declaration, so the end line is that of its last real token
whatever the grammar version does.
"""

from __future__ import annotations

from tree_sitter import Node, Tree

from .verdict import Verdict, encode_source

JUDGE = "tree-sitter"

# Top-level node kinds that are declarations (tree-sitter-elm's names). A type
# annotation is its own node, before the value_declaration it annotates.
DECLARATION_KINDS = frozenset(
    {
        "value_declaration",
        "type_annotation",
        "type_declaration",
        "type_alias_declaration",
        "port_annotation",
        "infix_declaration",
    }
)
COMMENT_KINDS = frozenset({"line_comment", "block_comment"})


class TreeSitterElm:
    """tree-sitter-elm through the ``tree-sitter`` Python package.

    >>> ts = TreeSitterElm()
    >>> ts.check("module M exposing (..)\\nx = 1\\n").valid
    True
    >>> ts.declaration_spans("module M exposing (..)\\nx : Int\\nx =\\n    1\\n")
    [('type_annotation', 2, 2), ('value_declaration', 3, 4)]
    """

    def __init__(self) -> None:
        from tree_sitter_language_pack import get_parser

        self._parser = get_parser("elm")

    def parse(self, text: str) -> Tree:
        """The tree-sitter syntax tree of ``text`` (always a tree; errors are nodes in it)."""
        return self._parser.parse(encode_source(text))

    def check(self, text: str) -> Verdict:
        """Valid iff the tree has no ERROR or MISSING node; else the first one's place."""
        source = encode_source(text)
        tree = self._parser.parse(source)
        bad = _first_error(tree.root_node)
        if bad is None:
            return Verdict(JUDGE, True)
        line, column = _position(source, bad.start_point)
        what = f"missing {bad.type}" if bad.is_missing else "ERROR"
        return Verdict(JUDGE, False, line, column, what)

    def check_many(self, texts: list[str], progress: bool = False) -> list[Verdict]:
        """:meth:`check` on each text, in order (fast enough to need no cache)."""
        items = texts
        if progress:
            from tqdm import tqdm

            items = tqdm(texts, desc="tree-sitter", unit="file")
        return [self.check(t) for t in items]

    def declaration_spans(self, text: str) -> list[tuple[str, int, int]]:
        """``(node kind, first line, last line)`` of each top-level declaration, 1-based.

        Kinds are tree-sitter-elm's: ``value_declaration``, ``type_annotation`` (a
        separate node before its value), ``type_declaration``,
        ``type_alias_declaration``, ``port_annotation``, ``infix_declaration``.
        Comments, the module header, imports and ERROR nodes are left out.
        """
        tree = self.parse(text)
        spans = []
        for node in tree.root_node.children:
            if node.type not in DECLARATION_KINDS:
                continue
            end = _last_token(node) or node
            spans.append((node.type, node.start_point[0] + 1, end.end_point[0] + 1))
        return spans


def _first_error(root: Node) -> Node | None:
    """The first ERROR or MISSING node in document order, or None."""
    if not root.has_error:
        return None
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node
        # Only subtrees that contain an error are worth entering.
        stack.extend(reversed([c for c in node.children if c.has_error]))
    return None


def _last_token(node: Node) -> Node | None:
    """The last descendant leaf of ``node`` that is neither a comment nor zero-width."""
    for child in reversed(node.children):
        if child.type in COMMENT_KINDS or child.start_byte == child.end_byte:
            continue
        if child.child_count == 0:
            return child
        found = _last_token(child)
        if found is not None:
            return found
    return None


def _position(source: bytes, point) -> tuple[int, int]:
    """1-based (line, character column) of a tree-sitter (row, byte column) point."""
    row, byte_col = point
    start = 0
    for _ in range(row):
        start = source.index(b"\n", start) + 1
    prefix = source[start : start + byte_col]
    return row + 1, len(prefix.decode("utf-8", "replace")) + 1
