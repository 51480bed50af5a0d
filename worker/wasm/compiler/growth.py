"""Which calls may grow memory: the callees after which compiled code binds its views again.

Compiled code holds typed views of memory 0 in locals (``w4 = MEM.w32``...,
see :mod:`.emit` and ``runtime.memory``); :meth:`Memory.grow` replaces them,
so after anything that may grow the memory the caller reads them again.
This module finds the functions a ``call`` to which cannot grow memory, so
that the emitter binds nothing after those calls.

The rule
--------
A call to function ``i`` *may grow* memory when

* ``i`` is imported: a host function, or another instance's function, can
  grow a memory this instance shares (nothing is known about its code);
* ``i`` is defined here and its body holds ``memory.grow`` (any memory
  index: conservative), a ``call_indirect`` (a table can hold any function,
  imported or another instance's), or a ``call`` to a function that may
  grow -- a fixed point over the call graph, computed by propagating from
  the growing functions to their callers with a work list (no recursion:
  modules have thousands of functions and call chains as deep).

Instructions in unreachable code count too (the scan reads the decoded body
as it is, without lowering it): that can only say "may grow" more often.

Why nothing else can grow memory during such a call
---------------------------------------------------
While a defined function runs, the only code that runs is the compiled code
of this module's functions it calls (``f{i}`` of a defined function is its
own compiled function, or the stub that compiles it on the first call and
then calls it: compiling runs no wasm code) and the runtime's helpers (gas
charges, trap makers, bounds and budget checks), none of which grows a
memory except the one ``memory.grow`` calls. Foreign code -- host
functions, other instances' functions -- is entered only through an
imported function or a table element, that is, by a ``call`` to an import
or a ``call_indirect``, both "may grow" here. The rest of the module is not
relevant to a call: imports of memories, tables or globals grow nothing by
being read, table elements are only ever run by ``call_indirect``, and the
start function runs at instantiation, before any call.

Traps (and the other exceptions that end a call: out of gas, stack
exhaustion, a time limit's alarm raised wherever the code is) end the
caller too: compiled code never catches an exception to go on running (its
handlers turn memory and division errors into traps and re-raise; the
metered one syncs the gas and re-raises), so no caller uses a view after a
callee that grew memory and then trapped. Code that does catch a trap and
go on -- a host function that runs another contract and reports its
failure -- is foreign code, reached through an import. The engine supports
neither wasm exception handling nor tail calls (which would be more ways
to resume or leave a caller), nor threads sharing a memory while it runs.
"""

from __future__ import annotations

from operator import itemgetter

from ..module import Expr, Module
from ..opcodes import Opcode

_OPCODE = itemgetter(0)  # an instruction's opcode (Instr.op), taken in C
_GROWS = (Opcode.MEMORY_GROW, Opcode.CALL_INDIRECT)  # a body holding one of these may grow memory
_CALL = Opcode.CALL  # bound once: an enum member's lookup is slow in a loop over instructions


def steady_functions(module: Module) -> frozenset[int]:
    """The indices of the functions a ``call`` to which cannot grow memory (see the module docstring)."""
    imported = module.num_imported_funcs
    count = imported + len(module.funcs)
    grows = [True] * imported + [False] * len(module.funcs)
    callers: dict[int, list[int]] = {}  # callee -> the functions that call it
    work = list(range(imported))  # may grow, their callers not marked yet
    for defined, func in enumerate(module.funcs):
        index = imported + defined
        if _body_grows(func.body, index, callers):
            grows[index] = True
            work.append(index)
    while work:
        for caller in callers.get(work.pop(), ()):
            if not grows[caller]:
                grows[caller] = True
                work.append(caller)
    return frozenset(i for i in range(imported, count) if not grows[i])


def _body_grows(body: Expr, index: int, callers: dict[int, list[int]]) -> bool:
    """Whether function ``index``'s body grows memory by itself; otherwise record whom it calls.

    The opcodes are gathered into a set first (one pass in C) and only a
    body that holds a ``call`` is walked again for its callees.
    """
    ops = set(map(_OPCODE, body))
    if not ops.isdisjoint(_GROWS):
        return True
    if _CALL in ops:
        for callee in {ins.imm for ins in body if ins.op is _CALL}:
            callers.setdefault(callee, []).append(index)
    return False


__all__ = ["steady_functions"]
