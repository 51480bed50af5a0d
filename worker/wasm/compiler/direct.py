"""Direct calls: a callee's entry block is paid at the call site (metered variant only).

Theory of operation
-------------------
A function that nothing outside its module can reach -- not exported, not
the start function, not named by any element segment or global initializer
(so never in a table, never a ``ref.func`` value) -- is only ever entered by
a ``call`` from its own module. Such a function is *direct*: its metered
compile neither charges nor checks at entry. Its *entry price* (the price of
its entry gas block, plus, when that block ends in an ``if`` it can reach
without trapping or calling, the smaller of the two arms' first blocks) is
added instead to the gas block of every ``call`` to it, and that block
checks the meter after charging. The arms then pay only what exceeds the
smaller one, so the cheaper arm of a small leaf function costs nothing at
run time.

Every path pays exactly what it paid before; only *when* changes: a direct
call's entry price is paid with the call's own price, before the block that
holds the call runs. Every call into a function that may call or loop again
still passes a check (at its call site) and every loop header checks, so no
computation runs on without checks; between two checks only bounded work
runs (the rest of a block and direct callees that neither call nor loop).
"""

from __future__ import annotations

from collections.abc import Callable

from ..module import Expr, Module
from ..opcodes import Opcode
from ..types import ExternKind
from .ir import Gas, Node, Op
from .structure import CONSTRUCTS, children, merge_list, path_heads

Prepay = Callable[[int], "int | None"]  # function index -> its entry price if direct, else None


def escaped_functions(module: Module) -> frozenset[int]:
    """Indices of the functions that may be entered other than by a ``call`` from this module."""
    found = {e.index for e in module.exports if e.kind is ExternKind.FUNC}
    if module.start is not None:
        found.add(module.start)
    exprs: list[Expr] = [g.init for g in module.globals]
    for elem in module.elems:
        exprs.extend(elem.init)
    for expr in exprs:
        found.update(ins.imm for ins in expr if ins.op is Opcode.REF_FUNC)
    return frozenset(found)


def take_entry(body: list[Node]) -> int:
    """Remove the entry charge and check of a direct function; return its entry price.

    When the entry block forks cleanly into two paths (:func:`.structure.path_heads`),
    the smaller of their first blocks' prices moves into the entry price
    (every path pays at least that much as it enters its first block).
    """
    if not body or not isinstance(body[0], Gas):
        return 0
    head = body[0]
    heads = path_heads(body)
    if heads is not None:
        least = min(first.cost for first in heads)
        for first in heads:
            first.cost -= least
        head.cost += least
    price = head.cost
    head.cost = 0
    head.check = False
    return price


def charge_calls(nodes: list[Node], prepay: Prepay) -> None:
    """:func:`charge_call_sites`, then :func:`.structure.merge_gas` where it is needed.

    The body comes merged from the reshaping passes, and only the lists that
    gained gas blocks can merge again (each list merges on its own), so only
    they are merged, not the whole tree.
    """
    rebuilt: list[list[Node]] = []
    charge_call_sites(nodes, prepay, rebuilt)
    for changed in rebuilt:
        merge_list(changed)


def charge_call_sites(nodes: list[Node], prepay: Prepay, rebuilt: list[list[Node]] | None = None) -> None:
    """Put a checked ``Gas(entry price)`` before every call to a direct function.

    ``prepay`` is asked once per call, in the order of the code (it may lower
    the callee, see ``EntryPrices``; the price of each callee is computed
    once and kept there). A list that gains gas blocks is rebuilt once, not
    shifted at each insertion, and added to ``rebuilt`` when given.
    """
    out: list[Node] | None = None  # the rebuilt list, once a gas block goes in
    call = Opcode.CALL  # a local: reading an enum member off its class is a descriptor call
    for i, node in enumerate(nodes):
        if type(node) is Op:
            if node.op is call:
                price = prepay(node.imm)
                if price is not None:
                    if out is None:
                        out = nodes[:i]
                    out.append(Gas(price, True))
        elif type(node) in CONSTRUCTS:
            for child in children(node):
                charge_call_sites(child, prepay, rebuilt)
        if out is not None:
            out.append(node)
    if out is not None:
        nodes[:] = out
        if rebuilt is not None:
            rebuilt.append(nodes)
