"""Linear memory: a ``bytearray`` that only ever grows in place, with typed views of it.

Compiled code binds the ``bytearray`` itself (``m``) and indexes it directly,
so growing must keep the same object: :meth:`Memory.grow` extends it.

*Views.* Aligned 32- and 64-bit accesses go through ``memoryview`` casts of
the bytearray (:attr:`Memory.w32` ``I``, :attr:`Memory.w64` ``Q``,
:attr:`Memory.wf64` ``d``, indexed by address >> 2 or >> 3), about twice as
fast as a ``struct`` accessor. :attr:`Memory.wi32` (``i``, signed) is made on
first use only: the code of few functions reads it (see
``compiler.signed``), and a view costs every instance its cast. A view pins
its bytearray's size, so :meth:`Memory.grow` releases the views, extends the
bytearray and makes new ones: compiled code that holds views in locals reads them again from the
memory after ``memory.grow`` and after every call that may grow memory (a
grow can happen in a callee or a host function; ``compiler.growth`` finds
the calls that cannot), and a stale view, released, can no longer read the
old buffer. Views are native-endian: on a big-endian host they are
:class:`LittleEndianView` objects, slower but with the same values.

The
memory's growth limit is its declared maximum, capped by the runtime limit
``memory_pages`` of whoever created it, and its pages count against the
:class:`~.budget.Budget` of the instance that defined it (if any): a grow
the budget cannot cover fails with -1 before allocating.
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Final

from ..errors import Trap, TrapKind
from ..types import MAX_PAGES, PAGE_SIZE, Limits, MemType
from .budget import Budget, memory_bytes
from .limits import DEFAULT_RUNTIME_LIMITS


class LittleEndianView:
    """A little-endian view of ``data`` by items of one ``struct`` format (big-endian hosts only).

    Indexes like the ``memoryview`` cast it stands for: item ``i`` is the
    bytes ``[i * size, (i + 1) * size)``, an index past the end raises
    ``IndexError`` (compiled code's out-of-bounds signal).
    """

    __slots__ = ("count", "data", "pack", "size", "unpack")

    def __init__(self, data: bytearray, fmt: str) -> None:
        layout = struct.Struct("<" + fmt)
        self.data, self.size = data, layout.size
        self.unpack, self.pack = layout.unpack_from, layout.pack_into
        self.count = len(data) // layout.size

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.count:
            raise IndexError("view index out of range")
        return self.unpack(self.data, index * self.size)[0]

    def __setitem__(self, index: int, value: Any) -> None:
        if not 0 <= index < self.count:
            raise IndexError("view index out of range")
        self.pack(self.data, index * self.size, value)

    def release(self) -> None:
        """Nothing to release (the ``memoryview`` protocol)."""


VIEW_FORMATS: Final = ("I", "Q", "d")
"""The item formats of a memory's views: :attr:`Memory.w32`, :attr:`Memory.w64`, :attr:`Memory.wf64`."""
SIGNED_FORMAT: Final = "i"
"""The item format of :attr:`Memory.wi32`, made on first use."""

_NATIVE = sys.byteorder == "little" and all(
    struct.calcsize(f) == struct.calcsize("<" + f) for f in (*VIEW_FORMATS, SIGNED_FORMAT))


def _views(data: bytearray) -> tuple[Any, Any, Any]:
    """The typed views of ``data`` (its length a multiple of 8), native casts where they are exact.

    Written out rather than a loop over :data:`VIEW_FORMATS` through :func:`_view`: every instance
    with a memory makes them, and the loop costs it a few tenths of a microsecond.
    """
    if not _NATIVE:
        return _view(data, "I"), _view(data, "Q"), _view(data, "d")
    with memoryview(data) as raw:
        return raw.cast("I"), raw.cast("Q"), raw.cast("d")


def _view(data: bytearray, fmt: str) -> Any:
    """One typed view of ``data`` (as :func:`_views` makes them): the signed one, made on first use."""
    if not _NATIVE:
        return LittleEndianView(data, fmt)
    with memoryview(data) as raw:
        return raw.cast(fmt)  # type: ignore[call-overload]


class Memory:
    """A linear memory of 64 KiB pages (the public ``wasm.Memory``)."""

    __slots__ = ("_wi32", "budget", "cap", "data", "max", "w32", "w64", "wf64")

    def __init__(self, min_pages: int, max_pages: int | None = None, *,
                 limit_pages: int = DEFAULT_RUNTIME_LIMITS.memory_pages,
                 budget: Budget | None = None) -> None:
        """``budget``: what the pages count against (the defining instance's); None: only the caps."""
        bad_max = max_pages is not None and not min_pages <= max_pages <= MAX_PAGES
        if not 0 <= min_pages <= MAX_PAGES or bad_max:
            raise ValueError(f"invalid memory limits {min_pages}..{max_pages}")
        self.max = max_pages
        self.cap = min(MAX_PAGES if max_pages is None else max_pages, limit_pages)
        if min_pages > self.cap:
            raise ValueError(f"memory of {min_pages} pages exceeds the limit of {self.cap} pages")
        if budget is not None and not budget.take(memory_bytes(min_pages)):
            raise ValueError(f"memory of {min_pages} pages exceeds the budget {budget}")
        self.budget = budget
        self.data = bytearray(min_pages * PAGE_SIZE)
        self.w32, self.w64, self.wf64 = _views(self.data)
        self._wi32: Any = None

    @classmethod
    def checked(cls, data: bytearray, max_pages: int | None, cap: int, budget: Budget | None) -> Memory:
        """A memory around ``data`` whose limits were checked and whose pages were taken from ``budget``.

        Instantiation checks a module's memories once per compiled module and
        runtime limits (see ``runtime.prepared``), not once per instance.
        """
        memory = cls.__new__(cls)
        memory.max = max_pages
        memory.cap = cap
        memory.budget = budget
        memory.data = data
        memory.w32, memory.w64, memory.wf64 = _views(data)
        memory._wi32 = None
        return memory

    @property
    def wi32(self) -> Any:
        """The signed 32-bit view (``i``), made on first use and again after a grow."""
        view = self._wi32
        if view is None:
            view = self._wi32 = _view(self.data, SIGNED_FORMAT)
        return view

    @property
    def size(self) -> int:
        """Current size in pages."""
        return len(self.data) // PAGE_SIZE

    @property
    def type(self) -> MemType:
        """The memory's current type (for import matching)."""
        return MemType(Limits(self.size, self.max))

    def _span(self, addr: int, length: int) -> None:
        if addr < 0 or length < 0 or addr + length > len(self.data):
            raise Trap(TrapKind.OUT_OF_BOUNDS_MEMORY,
                       f"bytes [{addr}, {addr + length}) are outside memory of {len(self.data)} bytes")

    def read(self, addr: int, length: int) -> bytes:
        """``length`` bytes at ``addr`` (a trap when out of bounds)."""
        self._span(addr, length)
        return bytes(self.data[addr:addr + length])

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``addr`` (a trap when out of bounds; nothing is written then)."""
        self._span(addr, len(data))
        self.data[addr:addr + len(data)] = data

    def can_grow(self, pages: int) -> bool:
        """Whether :meth:`grow` would grant ``pages`` pages (within the cap and the budget)."""
        if pages < 0 or len(self.data) // PAGE_SIZE + pages > self.cap:
            return False
        return self.budget is None or self.budget.fits(memory_bytes(pages))

    def grow(self, pages: int) -> int:
        """Add ``pages`` zeroed pages; the old size in pages, or -1 when it cannot grow."""
        old = len(self.data) // PAGE_SIZE
        if not self.can_grow(pages):
            return -1
        if self.budget is not None:
            self.budget.take(memory_bytes(pages))
        if pages:
            self.w32.release()
            self.w64.release()
            self.wf64.release()
            if self._wi32 is not None:
                self._wi32.release()
                self._wi32 = None
            self.data.extend(bytes(pages * PAGE_SIZE))
            self.w32, self.w64, self.wf64 = _views(self.data)
        return old

    def __repr__(self) -> str:
        return f"<Memory {self.size} pages, max {self.max}>"
