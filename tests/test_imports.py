"""The dependency rule of the design, read from the imports of every source file.

The core (``elmgrammar/``) imports none of the parts built on it; ``corpus``, ``decode``
and ``finetune`` import only the core; ``evaluate`` the core and ``decode``. The command
line (``elmgrammar/cli.py``) gathers every part's subcommands by module name, as the
composition root. No private name (``_x``) crosses a package line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("corpus", "decode", "evaluate", "finetune")
MAY_IMPORT = {"core": set(), "corpus": set(), "decode": set(), "evaluate": {"decode"}, "finetune": set()}


def _package(path: Path) -> tuple[str, list[str]]:
    """The part a source file belongs to, and its module path (``elmgrammar.decode.state``)."""
    rel = path.relative_to(ROOT)
    part = rel.parts[0] if rel.parts[0] in PARTS else "core"
    inner = list(rel.with_suffix("").parts[1:])
    return part, ["elmgrammar"] + ([] if part == "core" else [part]) + inner


def _imports(path: Path):
    """(line, imported module, names) for every import of a file, relative ones resolved."""
    module = _package(path)[1]
    package = module if path.name == "__init__.py" else module[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names = [alias.name for alias in node.names]
            yield node.lineno, name, names
            if node.level and not node.module:  # `from . import x`: x is a module of the package
                for alias in node.names:
                    yield node.lineno, f"{name}.{alias.name}", []


def _part_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "elmgrammar":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in PARTS else "core"


def _sources() -> list[Path]:
    return sorted(p for folder in ("elmgrammar", *PARTS) for p in (ROOT / folder).rglob("*.py"))


def test_every_import_follows_the_dependency_rule():
    files = _sources()
    assert len(files) > 50 and any(p.name == "cli.py" for p in files)
    broken = []
    for path in files:
        part = _package(path)[0]
        for line, module, names in _imports(path):
            target = _part_of(module)
            if target is None or target == part:
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            if target != "core" and target not in MAY_IMPORT[part]:
                broken.append(f"{where}: {part} imports {module}")
            broken += [f"{where}: private {module}.{n}" for n in names if n.startswith("_")]
    assert broken == []


def test_the_rule_is_read_right():
    """The reader sees relative imports for what they are (a rule that reads nothing
    would pass anything)."""
    imports = {(module, tuple(names)) for _, module, names in _imports(ROOT / "decode" / "state.py")}
    assert ("elmgrammar.decode.recognizer", ("Recognizer",)) in imports
    assert ("elmgrammar.lexer", ("Lexer",)) in imports
    cli = {module for _, module, _ in _imports(ROOT / "elmgrammar" / "cli.py")}
    assert "elmgrammar.errors" in cli and not any(_part_of(m) in PARTS for m in cli)
    assert _part_of("elmgrammar.evaluate.bench") == "evaluate" and _part_of("elmgrammar.files") == "core"
