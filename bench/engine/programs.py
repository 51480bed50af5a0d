"""The benchmark table: which programs exist, their sizes and result types.

Every program is a freestanding C file compiled by ``build.sh`` into
``NAME.wasm`` (beside it) exporting ``run(n)``, and has a hand-written Python
twin in ``pyversions``. ``size`` is the ``n`` every engine runs in a timed
run: one size for all engines, chosen so that pywasm (the slowest engine)
needs roughly 2-4 s per run, so no time is ever scaled. ``quick_size`` is a
tiny ``n`` for smoke tests that check results, never speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from . import pyversions

HERE = Path(__file__).resolve().parent

WASM_MAGIC = b"\0asm"
WASM_HEADER_SIZE = 8  # magic + version
LEB_CONTINUE = 0x80
LEB_PAYLOAD = 0x7F

RESULT_MASKS: dict[str, int] = {"i32": pyversions.MASK32, "i64": pyversions.MASK64}
"""Result type of ``run`` -> mask turning a signed result into the unsigned checksum."""


class Section(IntEnum):
    """The binary section id this module needs (spec 5.5.2)."""

    CODE = 10


@dataclass(frozen=True)
class Benchmark:
    """One program of the suite."""

    name: str
    size: int  # n for timed runs, the same on every engine
    quick_size: int  # n for smoke tests
    result: str  # "i32" or "i64": the result type of run
    description: str
    source_file: str = ""  # defaults to NAME.c

    @property
    def path(self) -> Path:
        """The built module, NAME.wasm, beside its C source."""
        return HERE / f"{self.name}.wasm"

    @property
    def source(self) -> Path:
        """The C source ``build.sh`` compiles into :attr:`path`."""
        return HERE / (self.source_file or f"{self.name}.c")

    @property
    def mask(self) -> int:
        """Mask turning an engine's (possibly signed) result into the unsigned checksum."""
        return RESULT_MASKS[self.result]

    @property
    def python(self) -> Callable[[int], int]:
        """The hand-written Python version."""
        return pyversions.RUNNERS[self.name]

    def wasm(self) -> bytes:
        """The module's bytes."""
        return self.path.read_bytes()


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("fib", 23, 10, "i32", "recursive fib(n): calls, compares, adds"),
    Benchmark("sha256", 8192, 130, "i32", "SHA-256 of n bytes: 32-bit rotates, shifts, byte loads"),
    Benchmark("mandelbrot_f32", 56, 8, "i32", "Mandelbrot escape times, n x n grid, f32", "mandelbrot.c"),
    Benchmark("mandelbrot_f64", 56, 8, "i32", "Mandelbrot escape times, n x n grid, f64", "mandelbrot.c"),
    Benchmark("crc32", 32768, 300, "i32", "table-driven CRC-32 of n bytes: byte loads, table lookups"),
    Benchmark("sort", 4000, 200, "i32", "quicksort of n random i32: loads/stores, signed compares"),
    Benchmark("matmul", 40, 5, "i64", "n x n i64 matrix multiply: i64 mul/add, i64 loads"),
    Benchmark("interp", 2000, 50, "i32", "bytecode VM loop, switch -> br_table dispatch, n steps"),
)

BY_NAME: dict[str, Benchmark] = {b.name: b for b in BENCHMARKS}


def read_leb_u32(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 number at ``pos``: (value, position after it)."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & LEB_PAYLOAD) << shift
        if not byte & LEB_CONTINUE:
            return value, pos
        shift += 7


def code_section_size(data: bytes) -> int:
    """Size in bytes of the code section's payload (0 if there is none).

    The measure for "compile time per KB of code": function bodies only,
    no data segments or custom sections.
    """
    if data[:4] != WASM_MAGIC:
        raise ValueError("not a WebAssembly binary")
    pos = WASM_HEADER_SIZE
    while pos < len(data):
        section_id = data[pos]
        size, pos = read_leb_u32(data, pos + 1)
        if section_id == Section.CODE:
            return size
        pos += size
    return 0
