"""f32 rounding as two statements through a one-float cell, where an assignment allows it.

An f32 result is a double rounded to single precision. In an expression
the compiler writes the rounding as two C calls, ``f32u(f32p(E))[0]``
(:func:`.exprs.f32_rounded`): a native ``struct`` pack and unpack, a bytes
object and a tuple made and dropped, about 95 ns on CPython 3.11. Storing
the double into a ``memoryview`` of format ``'f'`` and reading it back does
the same rounding with the same C casts (``(float)d`` in, ``(double)f``
out, so the same bits for every value, NaN payloads and infinities
included), with no call and no object made: about 40 ns. It takes two
statements, so it applies where the compiler writes a statement::

    l3 = f32u(f32p(l7 + f32u(f32p(l3 - l4))[0]))[0]

becomes::

    F32[0] = l3 - l4
    t1 = F32[0]
    F32[0] = l7 + t1
    l3 = F32[0]

Only assignments to a name whose value is made of names, numbers, ``+``,
``-``, ``*`` and unary signs (besides the roundings) are rewritten: such
an expression cannot raise, call anything or have an effect, so computing
its inner roundings first, in statements of their own, changes nothing but
time. Any other line is left as it was.

``F32`` is each instance's own cell (``runtime.instance``): two instances
running in two threads never share one. Within an instance, nothing can run
between the two statements that writes the cell: the expressions call
nothing, CPython 3.11 switches threads and runs signal handlers only at
calls and backward jumps (none lies between the store and the read), and an
instance runs on one thread at a time.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

ROUNDING = "f32u(f32p("
"""What a line holds when it rounds to f32 (the text :func:`.exprs.f32_rounded` writes)."""

CELL = "F32"
"""The name of an instance's one-float cell (a ``memoryview`` of format ``'f'``)."""

_PURE_OPS = (ast.Add, ast.Sub, ast.Mult)
_PURE_SIGNS = (ast.USub, ast.UAdd)


class _Impure(Exception):
    """The expression holds something that could raise or have an effect: leave the line alone."""


def _rounded_operand(node: ast.expr) -> ast.expr | None:
    """``E`` when ``node`` is ``f32u(f32p(E))[0]``, else None."""
    index = node.slice if isinstance(node, ast.Subscript) else None
    if not (isinstance(index, ast.Constant) and index.value == 0):
        return None
    assert isinstance(node, ast.Subscript)
    outer = node.value
    if not (isinstance(outer, ast.Call) and isinstance(outer.func, ast.Name) and outer.func.id == "f32u"
            and len(outer.args) == 1 and not outer.keywords):
        return None
    inner = outer.args[0]
    if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "f32p"
            and len(inner.args) == 1 and not inner.keywords):
        return None
    return inner.args[0]


class _Hoister:
    """Turns an expression's roundings into cell statements, innermost first."""

    def __init__(self, temp: Callable[[], str]) -> None:
        self.temp = temp
        self.lines: list[str] = []

    def round(self, node: ast.expr) -> str:
        """Statements that leave ``node``'s value rounded in the cell; the cell's reading."""
        self.lines.append(f"{CELL}[0] = {ast.unparse(self.pure(node))}")
        return f"{CELL}[0]"

    def pure(self, node: ast.expr) -> ast.expr:
        """``node`` with each rounding in it replaced by a temporary holding its value."""
        operand = _rounded_operand(node)
        if operand is not None:
            reading = self.round(operand)
            name = self.temp()
            self.lines.append(f"{name} = {reading}")
            return ast.Name(name, ast.Load())
        if isinstance(node, ast.Name):
            return node
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node
        if isinstance(node, ast.BinOp) and isinstance(node.op, _PURE_OPS):
            return ast.BinOp(self.pure(node.left), node.op, self.pure(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, _PURE_SIGNS):
            return ast.UnaryOp(node.op, self.pure(node.operand))
        raise _Impure


def hoisted(text: str, temp: Callable[[], str]) -> list[str] | None:
    """The lines that do ``text``'s assignment with its roundings through the cell, or None (as is).

    ``text`` is one line of generated code; ``temp`` gives a fresh name
    for a temporary. Only ``NAME = EXPR`` lines holding a rounding, whose
    expression is pure (see the module docstring), are rewritten.
    """
    target, sep, value = text.partition(" = ")
    if not sep or not target.isidentifier() or ROUNDING not in value:
        return None
    try:
        tree = ast.parse(value, mode="eval").body
        hoister = _Hoister(temp)
        operand = _rounded_operand(tree)
        if operand is not None:  # the whole value is a rounding: the target reads the cell
            reading = hoister.round(operand)
            return [*hoister.lines, f"{target} = {reading}"]
        rest = ast.unparse(hoister.pure(tree))
    except (SyntaxError, _Impure):
        return None
    return [*hoister.lines, f"{target} = {rest}"]
