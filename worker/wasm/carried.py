"""How many values a function body passes around, for the ``carried_values`` limit.

The compiler turns each value a call, a return or a branch passes into a
name in the generated Python: a call's arguments and results, the values a
``br``/``br_if``/``return`` carries, and, for a ``br_table``, the values
carried to *each distinct target* (each target's registers differ). A
block's parameters and results count too: the compiler names each of them
at the block's entry and end. An
instruction of two bytes can pass a thousand values (a call to a function
with many results), and a ``br_table`` of ``k`` distinct targets each
carrying ``v`` values makes ``k * v`` moves from ``k + v`` bytes: that is how
a small module makes a huge one's worth of compile work. The decoder caps
the total per byte of body (:attr:`~.limits.DecodeLimits.carried_values`).

Ordinary instructions pass at most three values and are at least one byte,
so only a module with a type of many parameters and results can exceed the
cap (a block typed by one value type carries one): :func:`widest` lets the
decoder skip the count for every other module.
Indices out of range count as nothing: the validator rejects them later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .module import Instr
from .opcodes import Opcode
from .types import FuncType, ValType


def widest(types: Iterable[FuncType]) -> int:
    """The most values one call or branch can pass: a type's parameters plus results, or one."""
    return max(1, max((len(t.params) + len(t.results) for t in types), default=0))


def carried_values(body: Sequence[Instr], types: Sequence[FuncType], func_types: Sequence[int],
                   results: int) -> int:
    """Values ``body`` passes by calls, returns and branches (see the module docstring).

    ``func_types`` maps every function index (imports first) to its type
    index; ``results`` is the function's own result count.
    """
    labels = [results]  # arity of each open label, the function's first
    total = results  # the final ``end`` returns the results
    for op, imm, _ in body:
        if op is Opcode.BLOCK or op is Opcode.IF:
            labels.append(_block_arity(imm, types, loop=False))
            total += _block_values(imm, types)
        elif op is Opcode.LOOP:
            labels.append(_block_arity(imm, types, loop=True))
            total += _block_values(imm, types)
        elif op is Opcode.END:
            if len(labels) > 1:
                labels.pop()
        elif op is Opcode.BR or op is Opcode.BR_IF:
            total += _label(labels, imm)
        elif op is Opcode.BR_TABLE:
            targets, default = imm
            total += sum(_label(labels, depth) for depth in {*targets, default})
        elif op is Opcode.RETURN:
            total += results
        elif op is Opcode.CALL:
            total += _passes(types, func_types[imm] if imm < len(func_types) else -1)
        elif op is Opcode.CALL_INDIRECT:
            total += _passes(types, imm[0])
    return total


def _label(labels: list[int], depth: int) -> int:
    return labels[-1 - depth] if depth < len(labels) else 0


def _passes(types: Sequence[FuncType], index: int) -> int:
    if not 0 <= index < len(types):
        return 0
    ftype = types[index]
    return len(ftype.params) + len(ftype.results)


def _block_values(blocktype: object, types: Sequence[FuncType]) -> int:
    """Values a block takes and gives (the compiler names each at its entry and end)."""
    if isinstance(blocktype, ValType):
        return 1
    if isinstance(blocktype, int) and 0 <= blocktype < len(types):
        return _passes(types, blocktype)
    return 0


def _block_arity(blocktype: object, types: Sequence[FuncType], loop: bool) -> int:
    """Values a branch to the block's label carries: its results, or a loop's parameters."""
    if blocktype is None:
        return 0
    if isinstance(blocktype, ValType):
        return 0 if loop else 1
    if isinstance(blocktype, int) and 0 <= blocktype < len(types):
        ftype = types[blocktype]
        return len(ftype.params if loop else ftype.results)
    return 0
