"""The code stays readable: small modules and functions in hub/ and channels/.

A module over MODULE_LINES or a function over FUNCTION_LINES needs a reason written where it
stands: a comment `# long: <why>` among the module's first lines, or on the function's `def`
line or the line after it. The reason is for whoever comes next; the test only insists that
one was given.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("hub", "channels")
MODULE_LINES = 600
FUNCTION_LINES = 80
REASON = "# long:"


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _reasoned(lines: list[str], start: int, count: int) -> bool:
    return any(REASON in line for line in lines[start : start + count])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_small_or_say_why(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    problems = []
    if len(lines) > MODULE_LINES and not _reasoned(lines, 0, 15):
        problems.append(f"{len(lines)} lines (over {MODULE_LINES}) and no `{REASON}` reason")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        if length > FUNCTION_LINES and not _reasoned(lines, first - 1, node.lineno - first + 2):
            problems.append(f"{node.name}() has {length} lines (over {FUNCTION_LINES})")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_the_check_sees_a_long_function() -> None:
    """The measure itself: a function of 81 lines is long, one of 80 is not."""
    body = "\n".join(f"    x{n} = {n}" for n in range(78))
    for extra, long in ((0, False), (1, True)):
        source = "def f():\n" + body + "\n" + "    y = 0\n" * extra + "    return 0\n"
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.FunctionDef)
        assert ((node.end_lineno or 0) - node.lineno + 1 > FUNCTION_LINES) == long
