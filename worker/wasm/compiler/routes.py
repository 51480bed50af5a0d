"""How a branch reaches its label: the Python loop frames the emitter opens, and routes.

A branch from inside nested Python loops to a label owned by an outer frame
sets ``br`` to that frame's token and breaks; after each loop the emitter
tests ``br`` (see ``FunctionEmitter.after_frame``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class FrameKind(IntEnum):
    """The Python loops the emitter opens."""

    BLOCK = 1  # while True: ... break       (branch to it: break)
    LOOP = 2  # while True: ...             (branch to it: continue)
    STATES = 3  # while True: dispatch on lbl (branch to a state: lbl = k; continue)


@dataclass(eq=False, slots=True)
class Frame:
    """An open Python loop; ``escapes`` are tokens of outer frames branched to from inside."""

    kind: FrameKind
    token: int
    escapes: set[int] = field(default_factory=set)
    exit_state: int = -1


class Mode(IntEnum):
    """How a branch reaches a label."""

    FUNC = 0  # return
    IFCONV = 1  # falls to the end of an if-converted block
    FRAME = 2  # the frame's own action (break / continue)
    STATE = 3  # lbl = state; continue in the frame


@dataclass(slots=True)
class Route:
    """A label's mode, and the frame (and state) that owns it."""

    mode: Mode
    frame: Frame | None = None
    state: int = -1
