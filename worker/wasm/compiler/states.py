"""State machines: a construct too deep for CPython, flattened into ``while True`` over states.

Theory of operation
-------------------
When a construct would nest Python loops or blocks beyond CPython's static
limits (see ``structure``), the emitter flattens it: every branch target
inside becomes a *state*, the code between targets is the state's body, and
a branch is ``lbl = k; continue``. The states sit in the leaves of a
balanced tree of ``if lbl < k`` tests inside one ``while True``, so reaching
one costs ``log2(states)`` comparisons; a ``br_table`` whose targets are all
states jumps through a tuple (``lbl = (4, 7, 9)[i]``). Constructs inside that
fit the limits again are emitted structured within their state ("islands"):
the state machine is just another frame for their branches, so a hot inner
loop of a huge function stays a plain ``while`` loop.
"""

from __future__ import annotations

from typing import Protocol

from .exprs import X, paren
from .fold import Line
from .ir import Block, BrIf, Gas, If, Loop, Node, Op, Operand, Switch
from .routes import Frame, FrameKind, Mode, Route
from .structure import Analysis, tree_depth


class Emitter(Protocol):
    """What a state machine needs of the function emitter that hands it a construct.

    The emitter (``emit.FunctionEmitter``) drives the state machine and the
    state machine calls back into it for the code between branch targets;
    this interface is the state machine's side of that contract.
    """

    out: list[Line]
    ind: int
    loops: int
    frames: list[Frame]
    routes: dict[int, Route]
    analysis: Analysis

    def line(self, text: str, ind: int | None = None) -> None: ...
    def flush_all(self) -> None: ...
    def new_frame(self, kind: FrameKind) -> Frame: ...
    def after_frame(self, frame: Frame) -> None: ...
    def emit_construct(self, node: Block | Loop | If, force_flat: bool = False) -> bool: ...
    def emit_op(self, node: Op) -> None: ...
    def emit_gas(self, node: Gas) -> None: ...
    def emit_br_if(self, node: BrIf) -> None: ...
    def emit_switch(self, node: Switch) -> None: ...
    def emit_terminal(self, node: Node) -> None: ...
    def switch_index(self, node: Switch) -> X: ...
    def cond_text(self, operand: Operand) -> X: ...


def emit_states(em: Emitter, root: Block | Loop | If) -> bool:
    """Flatten ``root`` into ``while True:`` over states dispatched on ``lbl``."""
    frame = em.new_frame(FrameKind.STATES)
    bound = tree_depth(3 * em.analysis.count_constructs(root) + 2)
    machine = Machine(em, frame, em.ind + 1 + bound)
    saved_out, saved_ind = em.out, em.ind
    em.frames.append(frame)
    em.loops += 1
    machine.start()
    falls = machine.flatten([root], force_root=True)
    if falls:
        em.flush_all()
        em.line("break")
    states = machine.finish()
    em.loops -= 1
    em.frames.pop()
    em.out, em.ind = saved_out, saved_ind
    em.line("lbl = 0")
    em.line("while True:")
    _dispatch(em, states, 0, len(states), em.ind + 1, machine.state_ind)
    em.after_frame(frame)
    return True


def _dispatch(em: Emitter, states: list[list[Line]], lo: int, hi: int, ind: int,
              state_ind: int) -> None:
    if hi - lo == 1:
        shift = ind - state_ind
        body = states[lo] or [(state_ind, "break")]
        em.out.extend((i + shift, text) for i, text in body)
        return
    mid = (lo + hi) // 2
    em.line(f"if lbl < {mid}:", ind)
    _dispatch(em, states, lo, mid, ind + 1, state_ind)
    em.line("else:", ind)
    _dispatch(em, states, mid, hi, ind + 1, state_ind)


class Machine:
    """Collects the states of one flattened region (see :func:`emit_states`)."""

    def __init__(self, em: Emitter, frame: Frame, state_ind: int) -> None:
        self.em = em
        self.frame = frame
        self.state_ind = state_ind
        self.states: list[list[Line]] = []
        self.current = -1

    def new_state(self) -> int:
        self.states.append([])
        return len(self.states) - 1

    def switch(self, state: int) -> None:
        self.em.flush_all()
        self.em.out = self.states[state]
        self.em.ind = self.state_ind
        self.current = state

    def start(self) -> None:
        self.switch(self.new_state())

    def goto(self, state: int) -> None:
        self.em.flush_all()
        if state == self.frame.exit_state:
            self.em.line("break")
        else:
            self.em.line(f"lbl = {state}")
            self.em.line("continue")

    def finish(self) -> list[list[Line]]:
        self.em.flush_all()
        return self.states

    def flatten(self, nodes: list[Node], force_root: bool = False) -> bool:
        em = self.em
        for node in nodes:
            if isinstance(node, Block | Loop | If):
                if not isinstance(node, If):
                    em.flush_all()
                fits = not force_root and em.analysis.of(node).fits(em.loops, em.ind)
                if fits:
                    if not em.emit_construct(node):
                        return False
                    continue
                if isinstance(node, If):
                    if not self.flat_if(node):
                        return False
                elif not node.label.branches:
                    if not self.flatten(node.body):
                        return False
                elif isinstance(node, Block):
                    if not self.flat_block(node, force_root):
                        return False
                elif not self.flat_loop(node):
                    return False
            elif isinstance(node, Op):
                em.emit_op(node)
            elif isinstance(node, Gas):
                em.emit_gas(node)
            elif isinstance(node, BrIf):
                em.emit_br_if(node)
            elif isinstance(node, Switch):
                if em.analysis.of(node).fits(em.loops, em.ind):
                    em.emit_switch(node)
                else:
                    self.flat_switch(node)
                return False
            else:
                em.emit_terminal(node)
                return False
        em.flush_all()
        return True

    def flat_block(self, node: Block, root: bool) -> bool:
        end = self.new_state()
        if root:
            self.frame.exit_state = end
        self.em.routes[node.label.id] = Route(Mode.STATE, self.frame, end)
        if self.flatten(node.body):
            self.goto(end)
        self.switch(end)
        if root:
            self.em.line("break")
            return False
        return True

    def flat_loop(self, node: Loop) -> bool:
        self.em.flush_all()
        if self.em.out:
            head = self.new_state()
            self.goto(head)
            self.switch(head)
        else:
            head = self.current
        self.em.routes[node.label.id] = Route(Mode.STATE, self.frame, head)
        return self.flatten(node.body)

    def flat_switch(self, node: Switch) -> None:
        """Each case becomes a state; the table maps the index straight to them."""
        em = self.em
        index = em.switch_index(node).text
        states = [self.new_state() for _ in node.cases]
        if node.table:
            table = ", ".join(str(states[c]) for c in node.table)
            em.line(f"lbl = ({table},)[{index}] if {index} < {len(node.table)} else {states[node.default]}")
        else:  # a br_table of its default alone: every index goes there (the index is still evaluated)
            em.line(f"lbl = ({index}, {states[node.default]})[1]")
        em.line("continue")
        for state, case in zip(states, node.cases, strict=True):
            self.switch(state)
            if self.flatten(case):
                em.line("break")  # never reached: cases end in branches

    def flat_if(self, node: If) -> bool:
        em = self.em
        cond = em.cond_text(node.cond)
        join = self.new_state()
        other = self.new_state() if node.orelse else join
        em.line(f"if not {paren(cond)}:")
        em.ind += 1
        self.goto(other)
        em.ind -= 1
        if self.flatten(node.then):
            self.goto(join)
        falls = True
        if node.orelse:
            self.switch(other)
            if self.flatten(node.orelse):
                self.goto(join)
        self.switch(join)
        return falls
