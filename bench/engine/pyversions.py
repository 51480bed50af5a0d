"""Hand-written pure-Python versions of the benchmark programs.

Each ``run_NAME(n)`` computes exactly the checksum that ``NAME.c`` computes
(as an unsigned integer), written the way a competent Python programmer would
write the algorithm: Python ints masked where the C code wraps around, floats
for ``double``, lists and bytearrays for arrays. They are the ceiling for code
that CPython itself runs, and the reference every engine's result is checked
against.

Single precision has no Python type: ``f32`` rounds a double to the nearest
float through ``struct``. Computing a +, -, * or / of two singles in double
precision and rounding once gives the correctly rounded single result (a
double has more than 2 * 24 + 2 significand bits), so the f32 Mandelbrot
matches the wasm ``f32`` instructions bit for bit.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

MASK32 = 0xFFFF_FFFF
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

# The generators of bench.h.
LCG32_MUL, LCG32_ADD = 1664525, 1013904223
LCG64_MUL, LCG64_ADD = 6364136223846793005, 1442695040888963407

# Capacities of the static arrays in the C programs (they clamp n to these).
SHA256_MAX_BYTES = 1 << 20
CRC32_MAX_BYTES = 1 << 20
SORT_MAX_ITEMS = 1 << 18
MATMUL_MAX_N = 256
MANDELBROT_MAX_ITER = 64


def lcg_bytes(seed: int, n: int) -> bytearray:
    """``n`` bytes: the top byte of each successive 32-bit LCG state (as bench.h's ``lcg32``)."""
    out = bytearray(n)
    state = seed
    for i in range(n):
        state = (state * LCG32_MUL + LCG32_ADD) & MASK32
        out[i] = state >> 24
    return out


# --- fib ---------------------------------------------------------------------------------------------


def fib(n: int) -> int:
    """The doubly recursive Fibonacci function."""
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def run_fib(n: int) -> int:
    """fib(n) mod 2**32."""
    return fib(n) & MASK32


# --- sha256 ------------------------------------------------------------------------------------------

SHA256_K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip

SHA256_H0 = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)

_BLOCK_WORDS = struct.Struct(">16I")


def _sha256_compress(h: list[int], block: bytes | bytearray | memoryview) -> None:
    """One SHA-256 compression of a 64-byte block into the state ``h`` (in place)."""
    w = list(_BLOCK_WORDS.unpack(block))
    for i in range(16, 64):
        x = w[i - 15]
        y = w[i - 2]
        s0 = ((x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)) & MASK32
        s1 = ((y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)) & MASK32
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & MASK32)
    a, b, c, d, e, f, g, hh = h
    for k, wi in zip(SHA256_K, w, strict=True):
        s1 = ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) & MASK32
        t1 = hh + s1 + ((e & f) ^ (~e & g)) + k + wi
        s0 = ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) & MASK32
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c))
        hh, g, f, e = g, f, e, (d + t1) & MASK32
        d, c, b, a = c, b, a, (t1 + t2) & MASK32
    for i, v in enumerate((a, b, c, d, e, f, g, hh)):
        h[i] = (h[i] + v) & MASK32


def sha256_words(message: bytes | bytearray) -> list[int]:
    """The SHA-256 digest of ``message`` as eight 32-bit words (FIPS 180-4)."""
    h = list(SHA256_H0)
    tail_len = 64 if len(message) % 64 + 9 <= 64 else 128
    padded = bytearray(message)
    padded.append(0x80)
    padded.extend(bytes(len(message) // 64 * 64 + tail_len - len(padded) - 8))
    padded.extend((len(message) * 8).to_bytes(8, "big"))
    view = memoryview(padded)
    for off in range(0, len(padded), 64):
        _sha256_compress(h, view[off : off + 64])
    return h


def run_sha256(n: int) -> int:
    """XOR of the digest words of SHA-256 over ``n`` pseudo-random bytes."""
    folded = 0
    for word in sha256_words(lcg_bytes(1, min(n, SHA256_MAX_BYTES))):
        folded ^= word
    return folded


# --- mandelbrot --------------------------------------------------------------------------------------

_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """``x`` rounded to the nearest single-precision value (kept in a Python float)."""
    return float(_F32.unpack(_F32.pack(x))[0])


def run_mandelbrot_f64(n: int) -> int:
    """Sum of escape-time iterations plus trunc(1000 * final zr) over an n x n grid, in double precision."""
    if n == 0:
        return 0
    step = 3.0 / n
    crs = [x * step - 2.0 for x in range(n)]
    total = 0
    for y in range(n):
        ci = y * step - 1.5
        for cr in crs:
            zr = zi = 0.0
            it = 0
            while it < MANDELBROT_MAX_ITER:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = (zr + zr) * zi + ci
                zr = zr2 - zi2 + cr
                it += 1
            total += it + int(zr * 1000.0)
    return total & MASK32


def run_mandelbrot_f32(n: int) -> int:
    """Like :func:`run_mandelbrot_f64` with every operation rounded to single precision."""
    if n == 0:
        return 0
    pack, unpack = _F32.pack, _F32.unpack
    step = f32(3.0 / n)
    crs = [f32(f32(x * step) - 2.0) for x in range(n)]
    total = 0
    for y in range(n):
        ci = f32(f32(y * step) - 1.5)
        for cr in crs:
            zr = zi = 0.0
            it = 0
            while it < MANDELBROT_MAX_ITER:
                (zr2,) = unpack(pack(zr * zr))
                (zi2,) = unpack(pack(zi * zi))
                (mag,) = unpack(pack(zr2 + zi2))
                if mag > 4.0:
                    break
                # zr + zr is exact, so one rounding covers (zr + zr) * zi.
                (prod,) = unpack(pack((zr + zr) * zi))
                (zi,) = unpack(pack(prod + ci))
                (diff,) = unpack(pack(zr2 - zi2))
                (zr,) = unpack(pack(diff + cr))
                it += 1
            (scaled,) = unpack(pack(zr * 1000.0))
            total += it + int(scaled)
    return total & MASK32


# --- crc32 -------------------------------------------------------------------------------------------

CRC32_POLY = 0xEDB88320


def crc32_table() -> list[int]:
    """The 256-entry table of the reflected CRC-32 polynomial."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = CRC32_POLY ^ (c >> 1) if c & 1 else c >> 1
        table.append(c)
    return table


def crc32(data: bytes | bytearray) -> int:
    """Table-driven CRC-32 of ``data`` (the zlib/IEEE 802.3 CRC)."""
    table = crc32_table()
    crc = MASK32
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ MASK32


def run_crc32(n: int) -> int:
    """CRC-32 of ``n`` pseudo-random bytes."""
    return crc32(lcg_bytes(2, min(n, CRC32_MAX_BYTES)))


# --- sort --------------------------------------------------------------------------------------------


def quicksort(a: list[int], lo: int, hi: int) -> None:
    """Sort ``a[lo:hi + 1]`` in place: Hoare partition around the middle element.

    Recurses into the smaller part and loops on the larger one, so the depth
    stays logarithmic.
    """
    while lo < hi:
        pivot = a[lo + (hi - lo) // 2]
        i = lo - 1
        j = hi + 1
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while a[j] > pivot:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
        if j - lo < hi - j:
            quicksort(a, lo, j)
            lo = j + 1
        else:
            quicksort(a, j + 1, hi)
            hi = j


def signed_lcg_items(seed: int, n: int) -> list[int]:
    """``n`` successive 32-bit LCG states read as signed integers."""
    items = []
    state = seed
    for _ in range(n):
        state = (state * LCG32_MUL + LCG32_ADD) & MASK32
        items.append(state - (1 << 32) if state >> 31 else state)
    return items


def run_sort(n: int) -> int:
    """sum((i + 1) * a[i]) mod 2**32 over the quicksorted pseudo-random array (0 if unsorted)."""
    n = min(n, SORT_MAX_ITEMS)
    items = signed_lcg_items(3, n)
    quicksort(items, 0, n - 1)
    total = 0
    prev = None
    for i, v in enumerate(items, 1):
        if prev is not None and prev > v:
            return 0
        prev = v
        total += i * v
    return total & MASK32


# --- matmul ------------------------------------------------------------------------------------------


def lcg64_values(seed: int, count: int) -> tuple[list[int], int]:
    """``count`` successive 64-bit LCG states, and the final state."""
    out = []
    state = seed
    for _ in range(count):
        state = (state * LCG64_MUL + LCG64_ADD) & MASK64
        out.append(state)
    return out, state


def run_matmul(n: int) -> int:
    """64-bit checksum h = h * 31 + c over C = A x B (mod 2**64), row-major."""
    n = min(n, MATMUL_MAX_N)
    a, state = lcg64_values(4, n * n)
    b, _ = lcg64_values(state, n * n)
    rows = [a[i * n : (i + 1) * n] for i in range(n)]
    cols = [b[j::n] for j in range(n)]
    h = 0
    for row in rows:
        for col in cols:
            s = 0
            for x, y in zip(row, col, strict=True):
                s += x * y
            h = (h * 31 + s) & MASK64
    return h


# --- interp ------------------------------------------------------------------------------------------


class Op(IntEnum):
    """The opcodes of interp.c's virtual machine (instruction: op, a, b, c)."""

    HALT = 0  # return r1
    LI = 1  # r[a] = b | c << 8
    ADD = 2  # r[a] = r[b] + r[c]
    SUB = 3  # r[a] = r[b] - r[c]
    MUL = 4  # r[a] = r[b] * r[c]
    XOR = 5  # r[a] = r[b] ^ r[c]
    AND = 6  # r[a] = r[b] & r[c]
    OR = 7  # r[a] = r[b] | r[c]
    SHLI = 8  # r[a] = r[b] << c
    SHRI = 9  # r[a] = r[b] >> c
    ADDI = 10  # r[a] = r[b] + c
    SUBI = 11  # r[a] = r[b] - c
    LOAD = 12  # r[a] = mem[r[b] % 64]
    STORE = 13  # mem[r[b] % 64] = r[a]
    JNZ = 14  # if r[a] != 0: pc = b | c << 8
    JMP = 15  # pc = b | c << 8


INTERP_PROGRAM: tuple[tuple[Op, int, int, int], ...] = (
    (Op.LI, 1, 0x00, 0x00),  # 0: acc = 0
    (Op.LI, 2, 0x34, 0x12),  # 1: x = 0x1234
    (Op.LI, 9, 0x37, 0x9E),  # 2: k = 0x9E37
    (Op.JNZ, 0, 5, 0),  # 3: loop: if n: goto body
    (Op.JMP, 0, 18, 0),  # 4: goto fold
    (Op.SHLI, 3, 2, 13),  # 5: body: x ^= x << 13
    (Op.XOR, 2, 2, 3),  # 6
    (Op.SHRI, 3, 2, 17),  # 7: x ^= x >> 17
    (Op.XOR, 2, 2, 3),  # 8
    (Op.SHLI, 3, 2, 5),  # 9: x ^= x << 5
    (Op.XOR, 2, 2, 3),  # 10
    (Op.LOAD, 4, 2, 0),  # 11: v = mem[x % 64] + x
    (Op.ADD, 4, 4, 2),  # 12
    (Op.STORE, 4, 0, 0),  # 13: mem[n % 64] = v
    (Op.MUL, 5, 4, 9),  # 14: acc += v * k
    (Op.ADD, 1, 1, 5),  # 15
    (Op.SUBI, 0, 0, 1),  # 16: n -= 1
    (Op.JMP, 0, 3, 0),  # 17: goto loop
    (Op.LI, 6, 64, 0),  # 18: fold: i = 64
    (Op.SUBI, 6, 6, 1),  # 19: next: i -= 1
    (Op.LOAD, 7, 6, 0),  # 20: acc ^= mem[i]
    (Op.XOR, 1, 1, 7),  # 21
    (Op.JNZ, 6, 19, 0),  # 22: if i: goto next
    (Op.HALT, 0, 0, 0),  # 23
)

# Plain ints for the dispatch chain: comparing with an int is cheaper than an enum attribute lookup.
_HALT, _LI, _ADD, _SUB, _MUL, _XOR, _AND, _OR = (int(op) for op in Op if op <= Op.OR)
_SHLI, _SHRI, _ADDI, _SUBI, _LOAD, _STORE, _JNZ, _JMP = (int(op) for op in Op if op >= Op.SHLI)


class VMError(Exception):
    """The program ran off its end or used an unknown opcode (interp.c returns 0xFFFFFFFF)."""


def interpret(program: tuple[tuple[Op, int, int, int], ...], n: int) -> int:
    """Run ``program`` on the register machine with r0 = n; the value of r1 at HALT."""
    code = [(int(op), a, b, c) for op, a, b, c in program]
    regs = [0] * 16
    mem = [0] * 64
    regs[0] = n & MASK32
    pc = 0
    while True:
        op, a, b, c = code[pc]
        pc += 1
        # Ordered by how often the benchmark program executes each opcode.
        if op == _XOR:
            regs[a] = regs[b] ^ regs[c]
        elif op == _SHLI:
            regs[a] = (regs[b] << (c & 31)) & MASK32
        elif op == _SHRI:
            regs[a] = regs[b] >> (c & 31)
        elif op == _ADD:
            regs[a] = (regs[b] + regs[c]) & MASK32
        elif op == _LOAD:
            regs[a] = mem[regs[b] & 63]
        elif op == _SUBI:
            regs[a] = (regs[b] - c) & MASK32
        elif op == _JNZ:
            if regs[a]:
                pc = b | c << 8
        elif op == _JMP:
            pc = b | c << 8
        elif op == _STORE:
            mem[regs[b] & 63] = regs[a]
        elif op == _MUL:
            regs[a] = (regs[b] * regs[c]) & MASK32
        elif op == _LI:
            regs[a] = b | c << 8
        elif op == _SUB:
            regs[a] = (regs[b] - regs[c]) & MASK32
        elif op == _AND:
            regs[a] = regs[b] & regs[c]
        elif op == _OR:
            regs[a] = regs[b] | regs[c]
        elif op == _ADDI:
            regs[a] = (regs[b] + c) & MASK32
        elif op == _HALT:
            return regs[1]
        else:
            raise VMError(f"unknown opcode {op}")
        if pc >= len(code):
            raise VMError("program counter ran off the end of the program")


def run_interp(n: int) -> int:
    """The accumulator left by interp.c's bytecode program after n generator steps."""
    return interpret(INTERP_PROGRAM, n)


RUNNERS: dict[str, Callable[[int], int]] = {
    "fib": run_fib,
    "sha256": run_sha256,
    "mandelbrot_f32": run_mandelbrot_f32,
    "mandelbrot_f64": run_mandelbrot_f64,
    "crc32": run_crc32,
    "sort": run_sort,
    "matmul": run_matmul,
    "interp": run_interp,
}
"""Benchmark name -> its hand-written Python version."""
