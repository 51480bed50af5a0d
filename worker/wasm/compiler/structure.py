"""Control-flow shaping: how each wasm construct becomes Python control flow.

Python has no goto, so the emitter maps wasm's structured control onto
Python's:

* a ``loop`` whose label is a branch target becomes ``while True:`` (a branch
  to it is ``continue``; falling out of the body is ``break``);
* a targeted ``block`` becomes ``while True: ... break`` (a branch to it is
  ``break``), unless it can be *if-converted*: when every branch to the block
  is a ``br``/``br_if`` directly in its body (at most :data:`IFCONV_MAX` of
  them), ``br_if c`` becomes ``if c: <moves> else: <rest of the block>`` and
  no loop is needed;
* an untargeted ``block`` or ``loop`` is just its body;
* ``if`` is ``if``/``else``.

A branch that must leave several Python loops sets ``br`` to the token of
the loop frame that owns the target and ``break``s; after each loop the
emitter tests ``br`` and either handles it (the owner) or keeps breaking.

CPython refuses more than 20 statically nested loops/``try`` blocks and
about 100 indentation levels, and clang nests hundreds of blocks (a C
``switch`` is a ``br_table`` inside one block per case). So this module also
computes, for every construct, the loop and indentation depth its fully
structured form needs (:func:`requirements`). When a construct would exceed
:data:`MAX_LOOPS`/:data:`MAX_INDENT` at its position, the emitter flattens
it into a *state machine*: ``while True:`` over a state variable ``lbl``,
dispatched by a balanced tree of ``if lbl < k`` tests, where every targeted
label inside is a state and a branch is ``lbl = k; continue``. Inside a
state, constructs that fit again are emitted structured ("islands"), so
shallow hot loops stay plain ``while`` loops even in huge functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..opcodes import OPS, Family, Opcode
from .ir import (
    Block,
    Br,
    BrIf,
    BrTable,
    Gas,
    If,
    Label,
    Loop,
    Node,
    Op,
    Operand,
    Reg,
    Return,
    Switch,
    Unreachable,
)
from .lower import MOVE_OPS, TRAPPING

MAX_LOOPS = 16  # nested Python loops allowed (CPython: 20 blocks, one is the function's try)
MAX_INDENT = 72  # nesting levels allowed for structured code (CPython: 100 indentation levels)
IFCONV_MAX = 3  # br_ifs an if-converted block may hold (each nests the rest one level deeper)


@dataclass(frozen=True, slots=True)
class Need:
    """Python nesting a construct needs when emitted fully structured."""

    loops: int = 0
    indent: int = 0

    def fits(self, loops: int, indent: int) -> bool:
        return loops + self.loops <= MAX_LOOPS and indent + self.indent <= MAX_INDENT


ZERO = Need()

CONSTRUCTS = frozenset({Block, Loop, If, Switch})
"""The node types that nest node lists (see :func:`children`)."""


def ranges(labels: tuple[Label, ...], default: Label) -> list[tuple[int, Label]]:
    """A br_table as (first index, label) runs; the last run extends to infinity (the default)."""
    runs: list[tuple[int, Label]] = []
    for i, label in enumerate((*labels, default)):
        if not runs or runs[-1][1] is not label:
            runs.append((i, label))
    return runs


def switch_runs(switch: Switch) -> list[tuple[int, int]]:
    """A switch's table as (first index, case) runs; the last run is the default."""
    runs: list[tuple[int, int]] = []
    for i, case in enumerate((*switch.table, switch.default)):
        if not runs or runs[-1][1] != case:
            runs.append((i, case))
    return runs


def tree_depth(count: int) -> int:
    """Depth of a balanced binary ``if`` tree over ``count`` leaves."""
    return max(count - 1, 0).bit_length()


def ifconv_ok(block: Block) -> bool:
    """Whether every branch to the block is a direct br/br_if in its body (and few enough)."""
    label = block.label
    direct = conditional = 0
    for node in block.body:
        if type(node) is Br:
            direct += node.label is label
        elif type(node) is BrIf and node.label is label:
            direct += 1
            conditional += 1
    return direct == label.branches and conditional <= IFCONV_MAX


class Analysis:
    """Memoized :class:`Need` of every construct of one function."""

    def __init__(self) -> None:
        self._memo: dict[int, Need] = {}

    def of(self, node: Node) -> Need:
        """The nesting ``node`` needs when emitted structured."""
        key = id(node)
        need = self._memo.get(key)
        if need is None:
            need = self._memo[key] = self._compute(node)
        return need

    def seq(self, nodes: list[Node], ifconv: Label | None = None) -> Need:
        loops = indent = extra = 0
        for node in nodes:
            kind = type(node)
            if kind is Op or kind is Gas:  # most nodes
                continue
            if kind in CONSTRUCTS:
                need = self.of(node)
                if need.loops > loops:
                    loops = need.loops
                if extra + need.indent > indent:
                    indent = extra + need.indent
            elif type(node) is BrIf:
                if node.label is ifconv:
                    extra += 1
                    indent = max(indent, extra)
                else:
                    indent = max(indent, extra + 2)
            elif type(node) is BrTable:
                indent = max(indent, extra + tree_depth(len(ranges(node.labels, node.default))) + 2)
        return Need(loops, indent) if loops or indent else ZERO

    def _compute(self, node: Node) -> Need:
        if type(node) is Block:
            if not node.label.branches:
                return self.seq(node.body)
            if ifconv_ok(node):
                return self.seq(node.body, node.label)
            return self._frame(self.seq(node.body))
        if type(node) is Loop:
            body = self.seq(node.body)
            return self._frame(body) if node.label.branches else body
        if type(node) is If:
            then, orelse = self.seq(node.then), self.seq(node.orelse)
            return Need(max(then.loops, orelse.loops), 1 + max(then.indent, orelse.indent))
        if isinstance(node, Switch):
            cases = [self.seq(case) for case in node.cases]
            depth = tree_depth(len(switch_runs(node)))
            return Need(max(c.loops for c in cases), depth + 1 + max(c.indent for c in cases))
        return ZERO

    @staticmethod
    def _frame(body: Need) -> Need:
        """A Python loop around ``body``, plus the ``if br:`` test after it."""
        return Need(body.loops + 1, max(body.indent + 1, 3))

    def count_constructs(self, node: Node) -> int:
        """Constructs in ``node``'s subtree (an upper bound on a state machine's states)."""
        count = 1
        stack: list[Node] = [node]
        while stack:
            current = stack.pop()
            children: list[Node] = []
            if isinstance(current, Block | Loop):
                children = current.body
            elif isinstance(current, If):
                children = current.then + current.orelse
            elif isinstance(current, Switch):
                children = [n for case in current.cases for n in case]
                count += len(current.cases)
            for child in children:
                if isinstance(child, Block | Loop | If | Switch):
                    count += 1
                    stack.append(child)
        return count


# ---------------------------------------------------------------- switch ladders


def falls(nodes: list[Node]) -> bool:
    """Whether control may fall off the end of ``nodes`` (conservative: True when unsure)."""
    if not nodes:
        return True
    last = nodes[-1]
    kind = type(last)
    if kind is Op or kind is Gas or kind is BrIf:
        return True
    if kind in _ENDS:
        return False
    if type(last) is Block:
        return last.label.branches > 0 or falls(last.body)
    if type(last) is Loop:
        return falls(last.body)
    if type(last) is If:
        return falls(last.then) or falls(last.orelse)
    return True


_ENDS = frozenset({Br, Return, BrTable, Unreachable, Switch})
"""The nodes control never passes: a list ending in one does not fall off its end."""


def _chain(head: Block) -> list[Block]:
    """``head`` and the blocks that open each other's bodies: head.body[0], its body[0]..."""
    chain = [head]
    while chain[-1].body and isinstance(chain[-1].body[0], Block):
        first = chain[-1].body[0]
        assert isinstance(first, Block)
        chain.append(first)
    return chain


def _ladder_top(chain: list[Block], j: int, table: BrTable) -> int:
    """The outermost block of a switch ladder ending at level ``j`` (``j`` when there is none).

    Blocks inside the ladder must be targeted only by the br_table and carry no
    values; the case after each (the code after its end) must not fall into the
    next case, except the last, which falls to the end of the outer block.
    Cases of untargeted blocks are unreachable (no case above falls) and empty.
    """
    refs: dict[int, int] = {}
    for label in (*table.labels, table.default):
        refs[label.id] = refs.get(label.id, 0) + 1
    top = j
    while top > 0:
        label = chain[top].label
        if label.arity or label.branches != refs.get(label.id, 0):
            break
        case_falls = label.branches > 0 and falls(chain[top - 1].body[1:])
        top -= 1
        if case_falls:
            break
    return top


def _switch(chain: list[Block], top: int, j: int, table: BrTable) -> list[Node]:
    """The new body of ``chain[top]``: the code before the br_table, then a :class:`Switch`."""
    outer = chain[top]
    position = {chain[i].label.id: i for i in range(top + 1, j + 1)}
    numbers: dict[int, int] = {}
    cases: list[list[Node]] = []
    entries: list[int] = []
    for label in (*table.labels, table.default):
        number = numbers.get(label.id)
        if number is None:
            number = numbers[label.id] = len(cases)
            level = position.get(label.id)
            if level is None:
                cases.append([Br(label, ())])
            else:
                case = chain[level - 1].body[1:]
                if falls(case):  # only the last case can: it reaches the end of the outer block
                    case = [*case, Br(outer.label, outer.label.regs)]
                    outer.label.branches += 1
                cases.append(case)
        entries.append(number)
    switch = Switch(table.index, tuple(entries[:-1]), entries[-1], cases)
    return [*chain[j].body[:-1], switch]


def rewrite_switches(nodes: list[Node]) -> None:
    """Turn every switch ladder in ``nodes`` (recursively) into a :class:`Switch`.

    A C ``switch`` compiles to ``block block ... block (br_table ...) end case0 end
    case1 ...``: the table jumps out of one of several nested blocks and the case
    code follows that block's end. Emitted as is, that needs a Python loop per
    case and a chain of ``br`` tests; as a :class:`Switch`, the table becomes
    one ``if`` tree whose leaves are the cases.
    """
    work: list[list[Node]] = [nodes]
    while work:
        current = work.pop()
        for node in current:
            kind = type(node)
            if kind is Op:  # most nodes: skip the construct tests
                continue
            if type(node) is Block:
                body = node.body
                if body and type(body[0]) is Block:  # a chain of blocks, maybe a ladder
                    work.extend(_rewrite_chain(node))
                else:
                    work.append(body)
            elif kind in CONSTRUCTS:
                work.extend(children(node))


def _rewrite_chain(head: Block) -> list[list[Node]]:
    """Rewrite the first ladder in ``head``'s chain; the node lists still to visit."""
    chain = _chain(head)
    pending: list[list[Node]] = []
    for j in range(1, len(chain)):
        last = chain[j].body[-1] if chain[j].body else None
        if not isinstance(last, BrTable) or last.values:
            continue
        top = _ladder_top(chain, j, last)
        if top == j:
            continue
        chain[top].body = _switch(chain, top, j, last)
        pending.extend(chain[k].body[1:] for k in range(top))
        pending.append(chain[top].body)
        return pending
    pending.extend(block.body[1:] for block in chain[:-1])
    pending.append(chain[-1].body)
    return pending


# ---------------------------------------------------------------- return threading


def _return_tail(nodes: list[Node], start: int) -> list[Node] | None:
    """``nodes[start:]`` when they are only gas blocks and a return (a continuation worth copying).

    Scans forward only over gas blocks, so that asking after every construct
    of a long list stays linear; the tail comes back compact (:func:`_compact`).
    """
    end = start
    size = len(nodes)
    while end < size and type(nodes[end]) is Gas:
        end += 1
    if end == size - 1 and type(nodes[end]) is Return:
        return _compact(nodes[start:end], nodes[end])
    return None


def _compact(gas: list[Node], ret: Node) -> list[Node]:
    """Gas blocks then ``ret`` as at most one gas block then ``ret``.

    Nothing runs between the gas blocks, so one block with their summed cost
    (checked if any was) charges the same: it is what :func:`merge_gas` makes
    of them anyway. Keeping tails this size stops nested constructs, each
    adding its own gas block to the continuation it passes inwards, from
    growing the copies quadratically.
    """
    cost = check = 0
    for node in gas:
        assert isinstance(node, Gas)
        cost += node.cost
        check |= node.check
    return [Gas(cost, bool(check)), ret] if gas else [ret]


def _continuation(nodes: list[Node], i: int, exit_tail: list[Node] | None) -> list[Node] | None:
    """What runs after ``nodes[i]`` when it is a return: its own tail, or the list's exit."""
    tail = _return_tail(nodes, i + 1)
    if tail is not None:
        return tail
    end = i + 1
    while end < len(nodes) and type(nodes[end]) is Gas:
        end += 1
    if exit_tail is not None and end == len(nodes):
        return _compact([*nodes[i + 1:], *exit_tail[:-1]], exit_tail[-1])
    return None


def _copy_tail(tail: list[Node], label: Label | None, values: tuple[Operand, ...]) -> list[Node]:
    """The return ``tail`` as seen from a branch to ``label`` carrying ``values``."""
    ret = tail[-1]
    assert isinstance(ret, Return)
    if label is None:
        moved = ret.values
    else:
        regs = {reg: value for reg, value in zip(label.regs, values, strict=True)}
        moved = tuple(regs.get(v, v) if isinstance(v, Reg) else v for v in ret.values)
    return [*(Gas(n.cost, n.check) for n in tail[:-1] if isinstance(n, Gas)), Return(moved)]


def thread_returns(nodes: list[Node], exit_tail: list[Node] | None = None,
                   targets: dict[int, list[Node]] | None = None, merge: bool = False) -> None:
    """Copy short return continuations into the branches (and ``if`` arms) that lead to them.

    ``br L`` whose label's end is followed only by ``return`` becomes that
    return, so the block needs no Python loop; an ``if`` followed by a return
    gets the return in each arm, so results go straight to ``return``.

    ``merge``: also :func:`merge_gas`, in the same walk. Each list is merged
    once threading is done with it (nothing changes it afterwards, and it
    holds its own gas blocks: the copies are new ones), which is what a
    merge of the whole tree after threading does (see :func:`merge_list`).
    """
    targets = {} if targets is None else targets
    i = 0
    while i < len(nodes):
        node = nodes[i]
        kind = type(node)
        if kind is Op or kind is Gas:  # most nodes: nothing to thread
            i += 1
            continue
        if type(node) is Block or type(node) is Loop:
            tail = _continuation(nodes, i, exit_tail)
            if type(node) is Block and tail is not None:
                targets[node.label.id] = tail
            thread_returns(node.body, tail, targets, merge)
        elif type(node) is If:
            tail = _continuation(nodes, i, exit_tail)
            if tail is not None and _return_tail(nodes, i + 1) is not None:
                for arm in (node.then, node.orelse):
                    if falls(arm):
                        arm.extend(_copy_tail(tail, None, ()))
                del nodes[i + 1:]
            thread_returns(node.then, tail, targets, merge)
            thread_returns(node.orelse, tail, targets, merge)
        elif type(node) is Switch:
            for case in node.cases:
                thread_returns(case, None, targets, merge)
        elif type(node) is Br and node.label.id in targets:
            node.label.branches -= 1
            nodes[i:i + 1] = _copy_tail(targets[node.label.id], node.label, node.values)
        elif type(node) is BrIf and node.label.id in targets:
            node.label.branches -= 1
            tail = _copy_tail(targets[node.label.id], node.label, node.values)
            nodes[i] = If(node.cond, tail, [])
        i += 1
    if merge:
        merge_list(nodes)


def merge_gas(nodes: list[Node]) -> None:
    """Fold each gas block into the previous one when only plain instructions separate them.

    Calls do not end a gas block (see ``runtime.gas``), so a join's charge that
    the shaping passes copied after a call can be paid with the charge before it.
    """
    work = [nodes]
    while work:
        current = work.pop()
        if merge_list(current):
            work.extend(child for node in current if type(node) in CONSTRUCTS for child in children(node))


def merge_list(nodes: list[Node]) -> bool:
    """:func:`merge_gas` in ``nodes`` itself, not in the lists it nests; whether it holds a construct.

    A list's merging reads and changes only its own nodes, so the lists of a
    tree can be merged in any order, and one that a pass changed can be
    merged again alone.
    """
    last: Gas | None = None
    merged = nested = False
    for node in nodes:
        if type(node) is Op:
            continue
        if type(node) is Gas:
            if last is not None:
                last.cost += node.cost
                last.check = last.check or node.check
                merged = True
            else:
                last = node
        else:
            last = None
            if type(node) in CONSTRUCTS:
                nested = True
    if merged:  # drop the merged blocks in one pass (a del each would be quadratic)
        nodes[:] = _unmerged(nodes)
    return nested


def _unmerged(nodes: list[Node]) -> list[Node]:
    """``nodes`` without the gas blocks that :func:`merge_gas` folded into an earlier one."""
    kept: list[Node] = []
    last_gas = False  # whether the latest kept gas block still absorbs gas blocks
    for node in nodes:
        kind = type(node)
        if kind is Gas:
            if last_gas:
                continue
            last_gas = True
        elif kind is not Op:
            last_gas = False
        kept.append(node)
    return kept


def control_operands(node: Node) -> tuple[Operand, ...]:
    """What a control node reads: a construct's condition or index, a branch's or return's values."""
    if type(node) is If:
        return (node.cond,)
    if type(node) is Switch:
        return (node.index,)
    if type(node) is BrIf:
        return (node.cond, *node.values)
    if type(node) is BrTable:
        return (node.index, *node.values)
    if type(node) is Br or type(node) is Return:
        return node.values
    return ()


def children(node: Node) -> list[list[Node]]:
    """The nested bodies of a structured node (none for plain instructions)."""
    if type(node) is Block or type(node) is Loop:
        return [node.body]
    if type(node) is If:
        return [node.then, node.orelse]
    if type(node) is Switch:
        return node.cases
    return []


def has_loops(nodes: list[Node]) -> bool:
    """Whether any wasm loop occurs in ``nodes``."""
    stack = [nodes]
    while stack:
        for node in stack.pop():
            kind = type(node)
            if kind is Op:
                continue
            if kind is Loop:
                return True
            if kind in CONSTRUCTS:
                stack.extend(children(node))
    return False


# Instructions that can neither trap nor call: paying for them a little later changes nothing.
_TRAP_FREE_FAMILIES = frozenset({Family.VARIABLE, Family.CONST, Family.PARAMETRIC, Family.REFERENCE})


def _trap_free_op(op: Opcode) -> bool:
    info = OPS[op]
    if info.family is Family.NUMERIC:
        return op not in TRAPPING
    return info.family in _TRAP_FREE_FAMILIES or op in MOVE_OPS.values()


_TRAP_FREE_OPS = frozenset(info.op for info in OPS.values() if _trap_free_op(info.op))


def trap_free(node: Node) -> bool:
    """Whether the node is an instruction that can neither trap nor call."""
    return type(node) is Op and node.op in _TRAP_FREE_OPS


def path_heads(nodes: list[Node], start: int = 0) -> list[Gas] | None:
    """The first gas blocks of the two paths out of the block at ``nodes[start]``, if it forks cleanly.

    The block (``nodes[start]`` its :class:`Gas`) must reach an ``if`` through
    instructions that can neither trap nor call. The two paths are its arms
    when both start a gas block, or, when it has no ``else`` and its then-arm
    always branches away, the then-arm and the gas block right after the ``if``.
    """
    end = start + 1
    size = len(nodes)
    while end < size:
        node = nodes[end]
        if type(node) is not Op or node.op not in _TRAP_FREE_OPS:
            break
        end += 1
    branch = nodes[end] if end < size else None
    if type(branch) is not If or not branch.then or type(branch.then[0]) is not Gas:
        return None
    first = branch.then[0]
    if branch.orelse:
        other = branch.orelse[0]
    elif isinstance(branch.then[-1], _NO_FALL_THROUGH) and end + 1 < len(nodes):
        other = nodes[end + 1]
    else:
        return None
    return [first, other] if isinstance(other, Gas) else None


_NO_FALL_THROUGH = (Br, BrTable, Return, Unreachable)


def sink_gas(nodes: list[Node]) -> None:
    """Move each gas block's price into the two paths of the ``if`` that ends it, recursively.

    ``gas -= 4; check; if c: (gas -= 9 ...) else: (gas -= 3 ...)`` becomes
    ``check; if c: (gas -= 13 ...) else: (gas -= 7 ...)`` when nothing before the
    ``if`` can trap or call (see :func:`path_heads`): every path pays the same,
    one subtraction fewer, and nothing can observe the difference (a check
    stays where it was; no trap, call or check runs in between). Blocks are
    visited in order, outer lists first, so prices cascade: a loop body that
    forks twice before its back edge pays its whole iteration in one
    subtraction on the path that loops.
    """
    stack = [nodes]
    while stack:
        current = stack.pop()
        nested: list[list[list[Node]]] = []
        for i, node in enumerate(current):
            if type(node) is Op:
                continue
            if type(node) is Gas:
                if node.cost:
                    heads = path_heads(current, i)
                    if heads is not None:
                        for first in heads:
                            first.cost += node.cost
                        node.cost = 0
            elif type(node) in CONSTRUCTS:
                nested.append(children(node))
        for lists in reversed(nested):  # each list's own constructs in order, as a stack visits them
            stack.extend(lists)
