"""Linear memory: a ``bytearray`` that only ever grows in place.

Compiled code binds the ``bytearray`` itself (``m``) and indexes it directly,
so growing must keep the same object: :meth:`Memory.grow` extends it. The
memory's growth limit is its declared maximum, capped by the runtime limit
``memory_pages`` of whoever created it.
"""

from __future__ import annotations

from ..errors import Trap, TrapKind
from ..types import MAX_PAGES, PAGE_SIZE, Limits, MemType
from .limits import DEFAULT_RUNTIME_LIMITS


class Memory:
    """A linear memory of 64 KiB pages (the public ``wasm.Memory``)."""

    __slots__ = ("cap", "data", "max")

    def __init__(self, min_pages: int, max_pages: int | None = None, *,
                 limit_pages: int = DEFAULT_RUNTIME_LIMITS.memory_pages) -> None:
        bad_max = max_pages is not None and not min_pages <= max_pages <= MAX_PAGES
        if not 0 <= min_pages <= MAX_PAGES or bad_max:
            raise ValueError(f"invalid memory limits {min_pages}..{max_pages}")
        self.max = max_pages
        self.cap = min(MAX_PAGES if max_pages is None else max_pages, limit_pages)
        if min_pages > self.cap:
            raise ValueError(f"memory of {min_pages} pages exceeds the limit of {self.cap} pages")
        self.data = bytearray(min_pages * PAGE_SIZE)

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

    def grow(self, pages: int) -> int:
        """Add ``pages`` zeroed pages; the old size in pages, or -1 when it cannot grow."""
        old = len(self.data) // PAGE_SIZE
        if pages < 0 or old + pages > self.cap:
            return -1
        if pages:
            self.data.extend(bytes(pages * PAGE_SIZE))
        return old

    def __repr__(self) -> str:
        return f"<Memory {self.size} pages, max {self.max}>"
