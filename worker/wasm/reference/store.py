"""The reference's store: function, table, memory and global instances (spec 4.2).

Values are bit patterns (see :mod:`.ints`, :mod:`.floats`); references are
``None`` (null), a :class:`RefFunction`, or any host object (an externref).
These objects are what a reference instance exports and what it accepts as
imports; they are deliberately separate from the engine's runtime objects,
so that the two execution paths share nothing but the decoded module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Trap, TrapKind
from ..module import Func, Module
from ..types import MAX_PAGES, PAGE_SIZE, FuncType, GlobalType, Limits, MemType, TableType, ValType

DEFAULT_CALL_DEPTH = 10_000  # the engine's default RuntimeLimits.call_depth
DEFAULT_TABLE_ELEMENTS = 1_000_000  # the engine's default RuntimeLimits.table_elements

HostCallable = Callable[..., Any]
"""A host function: bit patterns in, None / one value / a tuple out."""


class RefMemory:
    """A linear memory: a ``bytearray`` of whole pages, growing up to ``cap`` pages."""

    def __init__(self, limits: Limits, limit_pages: int = MAX_PAGES) -> None:
        self.max = limits.max
        self.cap = min(MAX_PAGES if limits.max is None else limits.max, limit_pages)
        self.data = bytearray(limits.min * PAGE_SIZE)

    @property
    def pages(self) -> int:
        return len(self.data) // PAGE_SIZE

    @property
    def type(self) -> MemType:
        return MemType(Limits(self.pages, self.max))

    def check(self, address: int, length: int) -> None:
        """Trap unless bytes ``[address, address + length)`` are inside the memory."""
        if address + length > len(self.data):
            raise Trap(TrapKind.OUT_OF_BOUNDS_MEMORY)

    def grow(self, delta: int) -> int:
        """``memory.grow``: the old size in pages, or -1 (as an unsigned i32) when it cannot grow."""
        old = self.pages
        if old + delta > self.cap:
            return 0xFFFF_FFFF
        self.data.extend(bytes(delta * PAGE_SIZE))
        return old


class RefTable:
    """A table of references, growing up to ``cap`` elements."""

    def __init__(self, ttype: TableType, limit_elements: int = DEFAULT_TABLE_ELEMENTS,
                 init: Any = None) -> None:
        self.elem = ttype.elem
        self.max = ttype.limits.max
        self.cap = limit_elements if self.max is None else min(self.max, limit_elements)
        self.elems: list[Any] = [init] * ttype.limits.min

    @property
    def type(self) -> TableType:
        return TableType(self.elem, Limits(len(self.elems), self.max))

    def check(self, index: int, length: int) -> None:
        """Trap unless elements ``[index, index + length)`` are inside the table."""
        if index + length > len(self.elems):
            raise Trap(TrapKind.OUT_OF_BOUNDS_TABLE)

    def grow(self, delta: int, init: Any) -> int:
        """``table.grow``: the old size, or -1 (as an unsigned i32) when it cannot grow."""
        old = len(self.elems)
        if old + delta > self.cap:
            return 0xFFFF_FFFF
        self.elems.extend([init] * delta)
        return old


@dataclass(slots=True)
class RefGlobal:
    """A global: its type and its value (a bit pattern or a reference)."""

    type: GlobalType
    value: Any

    @property
    def raw(self) -> Any:
        """The value as the engine's ``Global.raw`` gives it (for the spec harness)."""
        return self.value


Entry = Callable[["RefFunction", Sequence[Any]], Any]
"""The machine's boundary call (``machine.call_export``): a function and bit patterns in, results out."""


@dataclass(eq=False, slots=True)
class RefFunction:
    """A function instance: a module's function (``instance``, ``code``) or a host callable.

    ``entry`` is how the function is run from outside: the machine's boundary
    call, handed over by instantiation (which knows the machine; the store,
    which the machine is built on, does not).
    """

    type: FuncType
    entry: Entry
    instance: RefInstance | None = None
    code: Func | None = None
    host: HostCallable | None = None
    depth_limit: int = DEFAULT_CALL_DEPTH

    def call_raw(self, args: Sequence[Any]) -> Any:
        """Call with bit patterns; returns None, one bit pattern or a tuple (as the engine's ``call_raw``)."""
        return self.entry(self, args)


@dataclass(eq=False, slots=True)
class RefInstance:
    """A module instance: its index spaces, segments and exports."""

    module: Module
    funcs: list[RefFunction] = field(default_factory=list)
    tables: list[RefTable] = field(default_factory=list)
    memories: list[RefMemory] = field(default_factory=list)
    globals: list[RefGlobal] = field(default_factory=list)
    elems: list[list[Any]] = field(default_factory=list)
    datas: list[bytes] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    bodies: dict[int, Any] = field(default_factory=dict)  # per defined function: its analysed Body
    nan_choices: int = 0  # times a float instruction met two different NaNs (see the package docstring)
    nan_results: int = 0  # NaNs made by float instructions whose NaN bits the spec leaves open
    canonical_nans: bool = False  # every NaN those instructions make is the positive canonical NaN

    def block_type(self, imm: Any) -> FuncType:
        """A block type immediate as a function type."""
        if imm is None:
            return FuncType((), ())
        if isinstance(imm, ValType):
            return FuncType((), (imm,))
        ftype: FuncType = self.module.types[imm]
        return ftype
