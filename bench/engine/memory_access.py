"""What one linear-memory load or store costs in CPython, by the form compiled code could use.

The engine's compiled code reads and writes 4- and 8-byte values through
typed views of memory (``view`` below when the address is known aligned,
``view+align`` when it is tested; see ``runtime.memory``) and unaligned ones
through bound ``struct`` accessors (``ld_u32(m, a)[0]``; see
``runtime.helpers``). This measures those forms against each other and
the alternatives, each inside a plain Python loop (the figures are
whole iterations; the loop alone is shown too), so that the gap between compiled
memory-heavy code (``sort``, ``interp``, ``matmul``) and hand-written Python
lists can be attributed:

- ``struct``: the accessors (all accesses, before views; unaligned ones now);
- ``view``: a ``memoryview`` cast to ``I``/``Q`` indexed by ``a >> 2``
  (aligned addresses only);
- ``view+align``: the same behind a test of the address's alignment, falling
  back to ``struct`` (what unaligned-safe code would need);
- ``bytes``: composing the value from single bytes;
- ``list``: a Python list, as the hand-written versions use.

A ``memoryview`` exported from a ``bytearray`` forbids resizing it
(``BufferError``), and ``memory.grow`` grows the engine's ``bytearray`` in
place, so ``Memory.grow`` releases its views and makes new ones, and
compiled frames read them again after every grow and every call that may grow.

    python bench/engine/memory_access.py [--loops N]
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
SIZE = 1 << 16
ADDRESS = 1024  # aligned for both widths


def _kernels(memory: bytearray) -> dict[str, Callable[[int], int]]:
    ld32, st32, ld64 = U32.unpack_from, U32.pack_into, U64.unpack_from
    w32 = memoryview(memory).cast("I")
    w64 = memoryview(memory).cast("Q")
    items = [0] * (SIZE // 4)

    def loop(n: int) -> int:
        s, z = 0, 0
        for _ in range(n):
            s += z  # what a load's loop does besides the load (memory is zeros)
        return s

    def load32_struct(n: int) -> int:
        s, m, a = 0, memory, ADDRESS
        for _ in range(n):
            s += ld32(m, a)[0]
        return s

    def load32_view(n: int) -> int:
        s, w, a = 0, w32, ADDRESS
        for _ in range(n):
            s += w[a >> 2]
        return s

    def load32_view_align(n: int) -> int:
        s, m, w, a = 0, memory, w32, ADDRESS
        for _ in range(n):
            s += w[a >> 2] if not a & 3 else ld32(m, a)[0]
        return s

    def load32_bytes(n: int) -> int:
        s, m, a = 0, memory, ADDRESS
        for _ in range(n):
            s += m[a] | m[a + 1] << 8 | m[a + 2] << 16 | m[a + 3] << 24
        return s

    def load32_list(n: int) -> int:
        s, x, a = 0, items, ADDRESS >> 2
        for _ in range(n):
            s += x[a]
        return s

    def load64_struct(n: int) -> int:
        s, m, a = 0, memory, ADDRESS
        for _ in range(n):
            s += ld64(m, a)[0]
        return s

    def load64_view_align(n: int) -> int:
        s, m, w, a = 0, memory, w64, ADDRESS
        for _ in range(n):
            s += w[a >> 3] if not a & 7 else ld64(m, a)[0]
        return s

    def store32_struct(n: int) -> int:
        m, a = memory, ADDRESS
        for i in range(n):
            st32(m, a, i)
        return 0

    def store32_view_align(n: int) -> int:
        m, w, a = memory, w32, ADDRESS
        for i in range(n):
            if a & 3:
                st32(m, a, i)
            else:
                w[a >> 2] = i
        return 0

    def store32_list(n: int) -> int:
        x, a = items, ADDRESS >> 2
        for i in range(n):
            x[a] = i
        return 0

    return {
        "loop alone": loop,
        "load32 struct": load32_struct,
        "load32 view": load32_view,
        "load32 view+align": load32_view_align,
        "load32 bytes": load32_bytes,
        "load32 list": load32_list,
        "load64 struct": load64_struct,
        "load64 view+align": load64_view_align,
        "store32 struct": store32_struct,
        "store32 view+align": store32_view_align,
        "store32 list": store32_list,
    }


def measure(loops: int, rounds: int = 7) -> dict[str, float]:
    """Best-of-``rounds`` ns per loop iteration of each kernel."""
    memory = bytearray(SIZE)
    kernels = _kernels(memory)
    best = dict.fromkeys(kernels, float("inf"))
    for _ in range(rounds):  # interleaved, so that machine noise hits every kernel alike
        for name, kernel in kernels.items():
            start = time.process_time()
            kernel(loops)
            best[name] = min(best[name], (time.process_time() - start) / loops * 1e9)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    figures = measure(args.loops)
    print(f"{'form':<20}{'ns/iteration':>13}{'/ struct':>10}")
    for name, ns in figures.items():
        kind = name.split()[0]
        ratio = f"{ns / figures[kind + ' struct']:>10.2f}" if kind + " struct" in figures else ""
        print(f"{name:<20}{ns:>13.1f}{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
