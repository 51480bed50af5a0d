"""The register form: a wasm function after lowering, before Python emission.

Every operand-stack slot is a virtual register named by its height (``s0``,
``s1``, ...), locals are ``l0``, ``l1``, ... and constants are immediate
operands. Straight-line work is a list of :class:`Op` (one wasm instruction
each, with explicit outputs and operands); control keeps wasm's structure
(:class:`Block`, :class:`Loop`, :class:`If`) but every branch already names
its :class:`Label` and the operands it carries, so the register moves it
performs are known: the carried values go to the label's registers
``s{base}..`` (see :meth:`Label.regs`). A branch to the function's own label
is a return. :class:`Gas` marks the start of a straight-line gas block with
its precomputed cost. :class:`Switch` never comes out of lowering: the
shaping passes of ``structure`` make it from a ``br_table`` and the ladder of
blocks around it. Registers and locals are frozen values shared by every
function (:func:`reg_table`, :func:`loc_table`): compare them with ``==``,
never by identity.

:func:`render_ir` prints the form one instruction per line for ``dump --ir``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ..errors import TrapKind
from ..opcodes import OPS, Opcode
from ..types import FuncType, ValType


@dataclass(frozen=True, slots=True)  # shared: lowering takes them from :func:`reg_table`
class Reg:
    """The operand-stack register at height ``h``."""

    h: int

    def __str__(self) -> str:
        return f"s{self.h}"


@dataclass(frozen=True, slots=True)  # shared: lowering takes them from :func:`loc_table`
class Loc:
    """Local variable ``i`` (parameters first)."""

    i: int

    def __str__(self) -> str:
        return f"l{self.i}"


_REGS: tuple[Reg, ...] = ()
_LOCS: tuple[Loc, ...] = ()


def _grown(size: int, count: int) -> int:
    return max(count, size + size // 4, 64)


def reg_table(count: int) -> tuple[Reg, ...]:
    """At least ``count`` registers, ``Reg(h)`` at index ``h``: one shared object per height.

    Lowering makes an operand for nearly every instruction; taking it from
    this table instead of making it costs an index rather than an ``__init__``
    (the objects are frozen, so sharing them is safe). The table only grows,
    by rebinding the module global to a longer tuple (safe between threads:
    either tuple is correct), by a quarter at least so that growing stays linear.
    """
    global _REGS
    table = _REGS
    if len(table) < count:
        table = _REGS = (*table, *(Reg(h) for h in range(len(table), _grown(len(table), count))))
    return table


def loc_table(count: int) -> tuple[Loc, ...]:
    """At least ``count`` locals, ``Loc(i)`` at index ``i`` (shared, as :func:`reg_table`)."""
    global _LOCS
    table = _LOCS
    if len(table) < count:
        table = _LOCS = (*table, *(Loc(i) for i in range(len(table), _grown(len(table), count))))
    return table


@dataclass(unsafe_hash=True, slots=True)
class Const:
    """An immediate in the runtime representation (see ``numeric``)."""

    value: Any
    type: ValType

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.type}:null"
        return f"{self.type}:{self.value!r}"


Operand = Reg | Loc | Const
Target = Reg | Loc


class LabelKind(IntEnum):
    """What a branch to the label means."""

    FUNC = 0  # return from the function
    BLOCK = 1  # go past the block's end
    LOOP = 2  # back to the loop's start
    IF = 3  # past the end of an if (lowered as a block around the if)


@dataclass(eq=False, slots=True)
class Label:
    """A branch target: its registers start at ``base``; ``arity`` values travel."""

    id: int
    kind: LabelKind
    base: int
    arity: int
    branches: int = 0  # how many branch instructions name it

    @property
    def regs(self) -> tuple[Reg, ...]:
        base = self.base
        return reg_table(base + self.arity)[base:base + self.arity]

    def __str__(self) -> str:
        return "return" if self.kind is LabelKind.FUNC else f"L{self.id}"


@dataclass(slots=True)
class Op:
    """One non-control instruction: ``outs = op(args)`` (``imm`` as in ``Instr.imm``)."""

    op: Opcode
    outs: tuple[Target, ...]
    args: tuple[Operand, ...]
    imm: Any = None


@dataclass(slots=True)
class Gas:
    """Start of a gas block: charge ``cost`` before it runs; ``check`` tests the meter."""

    cost: int = 0
    check: bool = False


@dataclass(eq=False, slots=True)
class Block:
    """A ``block`` (or a targeted ``if``/function region) whose end is ``label``."""

    label: Label
    body: list[Node]


@dataclass(eq=False, slots=True)
class Loop:
    """A ``loop``: branches to ``label`` restart the body."""

    label: Label
    body: list[Node]


@dataclass(eq=False, slots=True)
class If:
    """``if cond then else``; its own label, when targeted, is a :class:`Block` around it."""

    cond: Operand
    then: list[Node]
    orelse: list[Node]


@dataclass(slots=True)
class Br:
    """Unconditional branch carrying ``values`` to ``label``'s registers."""

    label: Label
    values: tuple[Operand, ...]


@dataclass(slots=True)
class BrIf:
    """Branch when ``cond`` is non-zero."""

    label: Label
    cond: Operand
    values: tuple[Operand, ...]


@dataclass(slots=True)
class BrTable:
    """Branch to ``labels[index]``, or to ``default`` when out of range."""

    index: Operand
    labels: tuple[Label, ...]
    default: Label
    values: tuple[Operand, ...]


@dataclass(eq=False, slots=True)
class Switch:
    """A ``br_table`` whose targets' code was pulled into it (see ``structure.rewrite_switches``).

    Entry ``i`` of the table runs ``cases[table[i]]``; an out-of-range index runs
    ``cases[default]``. No case falls through: each ends in a branch or return.
    """

    index: Operand
    table: tuple[int, ...]
    default: int
    cases: list[list[Node]]


@dataclass(slots=True)
class Return:
    """Return ``values`` from the function."""

    values: tuple[Operand, ...]


@dataclass(slots=True)
class Unreachable:
    """The ``unreachable`` instruction: always traps."""

    kind: TrapKind = TrapKind.UNREACHABLE


Node = Op | Gas | Block | Loop | If | Br | BrIf | BrTable | Switch | Return | Unreachable
BRANCHES = (Br, BrIf, BrTable)


@dataclass(eq=False, slots=True)
class IRFunction:
    """One lowered function: signature, local types and the register-form body."""

    index: int
    type: FuncType
    locals: tuple[ValType, ...]  # parameters first
    body: list[Node]
    func_label: Label
    max_height: int
    labels: list[Label] = field(default_factory=list)
    # Facts lowering records as it builds the body, so that the later steps need not walk the
    # tree for them (None: not recorded, as for a hand-built function; walk to find out). The
    # reshaping passes add and drop no loop and no instruction; ``depth`` and ``tables`` describe
    # the body as lowered (the passes nest some branches in ifs and turn some tables into switches).
    depth: int | None = None  # how deeply the constructs nest (``compiler.nesting_depth``)
    loops: bool | None = None  # whether any Loop occurs
    calls: bool | None = None  # whether any direct ``call`` occurs
    tables: bool | None = None  # whether any ``br_table`` occurs
    accesses: frozenset[Opcode] | None = None  # the memory instructions that occur (+ lower.SIGNED_ORDERINGS)

    @property
    def nparams(self) -> int:
        return len(self.type.params)


# ---------------------------------------------------------------- rendering


def _operands(ops: tuple[Operand, ...]) -> str:
    return ", ".join(str(o) for o in ops)


def _moves(label: Label, values: tuple[Operand, ...]) -> str:
    if label.kind is LabelKind.FUNC:
        return f" [{_operands(values)}]" if values else ""
    pairs = [f"{dst} <- {src}" for dst, src in zip(label.regs, values, strict=True) if dst != src]
    return f" [{'; '.join(pairs)}]" if pairs else ""


def _render_op(node: Op) -> str:
    name = OPS[node.op].name
    imm = "" if node.imm is None else f" <{node.imm}>"
    args = f" {_operands(node.args)}" if node.args else ""
    if node.outs:
        return f"{_operands(node.outs)} = {name}{imm}{args}"
    return f"{name}{imm}{args}"


def _render(nodes: list[Node], depth: int, out: list[str]) -> None:
    pad = "  " * depth
    for node in nodes:
        if isinstance(node, Op):
            out.append(pad + _render_op(node))
        elif isinstance(node, Gas):
            out.append(pad + f"gas {node.cost}" + (" check" if node.check else ""))
        elif isinstance(node, Block | Loop):
            kind = "block" if isinstance(node, Block) else "loop"
            label = node.label
            regs = _operands(label.regs)
            out.append(pad + f"{kind} {label}" + (f" -> [{regs}]" if regs else ""))
            _render(node.body, depth + 1, out)
            out.append(pad + f"end {label}")
        elif isinstance(node, If):
            out.append(pad + f"if {node.cond}")
            _render(node.then, depth + 1, out)
            if node.orelse:
                out.append(pad + "else")
                _render(node.orelse, depth + 1, out)
            out.append(pad + "end")
        elif isinstance(node, Br):
            out.append(pad + f"br {node.label}{_moves(node.label, node.values)}")
        elif isinstance(node, BrIf):
            out.append(pad + f"br_if {node.cond} -> {node.label}{_moves(node.label, node.values)}")
        elif isinstance(node, BrTable):
            targets = " ".join(str(lb) for lb in node.labels)
            out.append(pad + f"br_table {node.index} [{targets}] default {node.default}")
            for label in dict.fromkeys((*node.labels, node.default)):
                moves = _moves(label, node.values)
                if moves:
                    out.append(pad + f"  {label}:{moves}")
        elif isinstance(node, Switch):
            out.append(pad + f"switch {node.index} [{' '.join(map(str, node.table))}] default {node.default}")
            for number, case in enumerate(node.cases):
                out.append(pad + f"case {number}:")
                _render(case, depth + 1, out)
            out.append(pad + "end switch")
        elif isinstance(node, Return):
            out.append(pad + f"return {_operands(node.values)}".rstrip())
        else:
            out.append(pad + "unreachable")


def render_function(func: IRFunction) -> str:
    """The register form as text: a header, then one line per register instruction."""
    params = ", ".join(f"l{i}:{t}" for i, t in enumerate(func.locals[: func.nparams]))
    results = ", ".join(func.type.results)
    lines = [f"func {func.index} ({params}) -> ({results})  max_height={func.max_height}"]
    extra = func.locals[func.nparams:]
    if extra:
        lines.append("  locals " + ", ".join(f"l{func.nparams + i}:{t}" for i, t in enumerate(extra)))
    _render(func.body, 1, lines)
    return "\n".join(lines) + "\n"
