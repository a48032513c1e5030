"""Generated source made importable: the model's own top-level test code taken out.

Models end a function with examples of its use — ``print(f(3))``, ``assert f(2) == 4``, an
``if __name__ == "__main__":`` block, ``result = f(3)``. Run on import, those crash the module
(a wrong assert, ``input()`` with no stdin) before any test of ours runs. They are removed by
the syntax tree, not by pattern: top-level statements other than imports, definitions and
assignments go, and so does an assignment that calls a function the module defines. Comments
and formatting of what stays are kept (lines are cut, not unparsed). Source that does not parse
is returned as it is: the tests then report the syntax error, which is what a fix needs.
"""

from __future__ import annotations

import ast

_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGN = (ast.Assign, ast.AnnAssign, ast.AugAssign)


def _calls_own(node: ast.AST, defined: set[str]) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defined
        for n in ast.walk(node)
    )


def importable(source: str) -> str:
    """``source`` without its top-level test code (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return source
    defined = {n.name for n in tree.body if isinstance(n, _KEPT[2:])}
    drop: list[tuple[int, int]] = []
    for i, node in enumerate(tree.body):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        keep = isinstance(node, _KEPT) or docstring
        if isinstance(node, _ASSIGN):
            keep = not _calls_own(node, defined)
        if not keep:
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            drop.append((first, node.end_lineno or node.lineno))
    if not drop:
        return source
    lines = source.splitlines(keepends=True)
    gone = {n for start, end in drop for n in range(start, end + 1)}
    kept = "".join(line for n, line in enumerate(lines, 1) if n not in gone)
    return kept.rstrip() + "\n"
