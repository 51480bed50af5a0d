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

from .ir import Block, Br, BrIf, BrTable, If, Label, Loop, Node

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


def ranges(labels: tuple[Label, ...], default: Label) -> list[tuple[int, Label]]:
    """A br_table as (first index, label) runs; the last run extends to infinity (the default)."""
    runs: list[tuple[int, Label]] = []
    for i, label in enumerate((*labels, default)):
        if not runs or runs[-1][1] is not label:
            runs.append((i, label))
    return runs


def tree_depth(count: int) -> int:
    """Depth of a balanced binary ``if`` tree over ``count`` leaves."""
    return max(count - 1, 0).bit_length()


def ifconv_ok(block: Block) -> bool:
    """Whether every branch to the block is a direct br/br_if in its body (and few enough)."""
    label = block.label
    direct = conditional = 0
    for node in block.body:
        if isinstance(node, Br | BrIf) and node.label is label:
            direct += 1
            conditional += isinstance(node, BrIf)
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
            if isinstance(node, BrIf):
                if node.label is ifconv:
                    extra += 1
                    indent = max(indent, extra)
                else:
                    indent = max(indent, extra + 2)
            elif isinstance(node, BrTable):
                indent = max(indent, extra + tree_depth(len(ranges(node.labels, node.default))) + 2)
            elif isinstance(node, Block | Loop | If):
                need = self.of(node)
                loops = max(loops, need.loops)
                indent = max(indent, extra + need.indent)
        return Need(loops, indent)

    def _compute(self, node: Node) -> Need:
        if isinstance(node, Block):
            if not node.label.branches:
                return self.seq(node.body)
            if ifconv_ok(node):
                return self.seq(node.body, node.label)
            return self._frame(self.seq(node.body))
        if isinstance(node, Loop):
            body = self.seq(node.body)
            return self._frame(body) if node.label.branches else body
        if isinstance(node, If):
            then, orelse = self.seq(node.then), self.seq(node.orelse)
            return Need(max(then.loops, orelse.loops), 1 + max(then.indent, orelse.indent))
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
            for child in children:
                if isinstance(child, Block | Loop | If):
                    count += 1
                    stack.append(child)
        return count
