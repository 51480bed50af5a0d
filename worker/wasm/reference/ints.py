"""Integer instructions of the reference interpreter, written from the spec (4.3.2).

Every value is its unsigned bit pattern (a Python ``int`` in ``[0, 2**N)``);
each function takes the width ``n`` (32 or 64) first and its operands in
stack order, and returns the result's bit pattern. Signed views are taken
explicitly with :func:`signed`. Nothing here is shared with the compiler or
with :mod:`wasmpool.wasm.numeric_int`: this is the second, independent reading
of the spec that the differential tests compare the engine against.
"""

from __future__ import annotations

from ..errors import Trap, TrapKind


def mask(n: int) -> int:
    """All ones in ``n`` bits."""
    return (1 << n) - 1


def signed(n: int, a: int) -> int:
    """The two's-complement value of the ``n``-bit pattern ``a``."""
    return a - (1 << n) if a >> (n - 1) else a


def wrap(n: int, a: int) -> int:
    """Any Python int reduced modulo ``2**n``."""
    return a & mask(n)


def add(n: int, a: int, b: int) -> int:
    return wrap(n, a + b)


def sub(n: int, a: int, b: int) -> int:
    return wrap(n, a - b)


def mul(n: int, a: int, b: int) -> int:
    return wrap(n, a * b)


def div_u(n: int, a: int, b: int) -> int:
    if b == 0:
        raise Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)
    return a // b


def rem_u(n: int, a: int, b: int) -> int:
    if b == 0:
        raise Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)
    return a % b


def _trunc_div(x: int, y: int) -> int:
    """Integer division rounding toward zero (Python's ``//`` rounds toward minus infinity)."""
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def div_s(n: int, a: int, b: int) -> int:
    if b == 0:
        raise Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)
    q = _trunc_div(signed(n, a), signed(n, b))
    if q == 1 << (n - 1):
        raise Trap(TrapKind.INTEGER_OVERFLOW)
    return wrap(n, q)


def rem_s(n: int, a: int, b: int) -> int:
    if b == 0:
        raise Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)
    x, y = signed(n, a), signed(n, b)
    return wrap(n, x - y * _trunc_div(x, y))


def and_(n: int, a: int, b: int) -> int:
    return a & b


def or_(n: int, a: int, b: int) -> int:
    return a | b


def xor(n: int, a: int, b: int) -> int:
    return a ^ b


def shl(n: int, a: int, b: int) -> int:
    return wrap(n, a << (b % n))


def shr_u(n: int, a: int, b: int) -> int:
    return a >> (b % n)


def shr_s(n: int, a: int, b: int) -> int:
    return wrap(n, signed(n, a) >> (b % n))


def rotl(n: int, a: int, b: int) -> int:
    k = b % n
    return wrap(n, (a << k) | (a >> (n - k)))


def rotr(n: int, a: int, b: int) -> int:
    k = b % n
    return wrap(n, (a >> k) | (a << (n - k)))


def clz(n: int, a: int) -> int:
    count = 0
    for bit in range(n - 1, -1, -1):
        if a >> bit & 1:
            break
        count += 1
    return count


def ctz(n: int, a: int) -> int:
    count = 0
    for bit in range(n):
        if a >> bit & 1:
            break
        count += 1
    return count


def popcnt(n: int, a: int) -> int:
    return sum(a >> bit & 1 for bit in range(n))


def eqz(n: int, a: int) -> int:
    return int(a == 0)


def eq(n: int, a: int, b: int) -> int:
    return int(a == b)


def ne(n: int, a: int, b: int) -> int:
    return int(a != b)


def lt_u(n: int, a: int, b: int) -> int:
    return int(a < b)


def gt_u(n: int, a: int, b: int) -> int:
    return int(a > b)


def le_u(n: int, a: int, b: int) -> int:
    return int(a <= b)


def ge_u(n: int, a: int, b: int) -> int:
    return int(a >= b)


def lt_s(n: int, a: int, b: int) -> int:
    return int(signed(n, a) < signed(n, b))


def gt_s(n: int, a: int, b: int) -> int:
    return int(signed(n, a) > signed(n, b))


def le_s(n: int, a: int, b: int) -> int:
    return int(signed(n, a) <= signed(n, b))


def ge_s(n: int, a: int, b: int) -> int:
    return int(signed(n, a) >= signed(n, b))


def extend_s(n: int, bits: int, a: int) -> int:
    """Sign-extend the low ``bits`` bits of ``a`` to ``n`` bits (``extend8_s``, ``extend_i32_s``...)."""
    return wrap(n, signed(bits, a & mask(bits)))
