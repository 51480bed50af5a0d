"""The float determinism digest: every float instruction on fixed inputs, hashed.

A consensus node must compute the same bits for every float instruction on
every CPU. This module pins that: one module (:func:`module_bytes`) exports a
function per float instruction and float conversion of WebAssembly 2.0 (every
row of the opcode table that pops or pushes an ``f32`` or ``f64``, outside
memory and constants: :data:`FLOAT_OPS`), each is run on a fixed seeded set
of inputs (:func:`inputs`), and the outcomes are hashed. The expected digests
live in ``float_digest.json`` beside this file, per operation and overall,
so a mismatch names the operations that changed (:func:`mismatches`). The
test (``test_float_digest.py``) runs our engine with canonical NaNs, metered
and unmetered, and the reference interpreter; ``bench/float_digest_wasmtime.py``
cross-checks the stored digest against wasmtime with Cranelift's NaN
canonicalization.

The host boundary
-----------------
Floats cross the boundary as raw bits: every exported function takes an
``i32`` for each ``f32`` operand and an ``i64`` for each ``f64`` operand and
turns it into the float with ``f32.reinterpret_i32`` / ``f64.reinterpret_i64``
inside the wasm, and a float result goes back through ``i32.reinterpret_f32``
/ ``i64.reinterpret_f64``. No engine's conversion to a host float can touch a
NaN's bits. Integer operands and results stay integers. Values are given and
taken as unsigned bit patterns (``call_raw`` in the engine and the reference).

Inputs
------
Each pool holds ``4 * QUARTER`` values, drawn from :class:`SplitMix64`
seeded with :data:`SEED` (a generator written here so that the inputs do
not depend on any library's algorithm). A float pool, as bit patterns:

1. a quarter NaNs: random sign, quiet or signalling, random payload;
2. a quarter subnormals: random sign, random significand of random length;
3. a quarter specials: +-0, +-inf, +-1, +-0.5, +-1.5, +-2.5, +-min and max
   normal and subnormal, then every limit of the integer conversions (-1,
   -2**31, 2**31, 2**32, -2**63, 2**63, 2**64, and for f64 also -2**31-1,
   2**31-1, 2**32-1), each with its two neighbouring bit patterns; for f64
   also the f32 rounding edges of ``demote`` (f32 max, and halfway to the
   next power of two); filled up with powers of two and their neighbours;
4. a quarter random bits.

An integer pool (for the ``convert`` instructions): a quarter specials (0,
+-1, the type's limits and their neighbours, powers of two around the float
precisions and their neighbours), a quarter random bits, a quarter random
magnitudes (a random length, then random bits), and a quarter rounding ties
for f32 and f64 (one bit more than the float's precision, the last bit set,
some with an even and some with an odd significand, and their neighbours).

A unary instruction runs on its operand's pool (a reinterpretation from an
integer runs on the float pool of that width: those are the interesting
bits). A binary instruction runs on ``4 * QUARTER`` pairs, the pool against a
seeded permutation of itself (every category meets every other), then on
every pair of :data:`CORE_SPECIALS` (``0 * inf``, ``inf - inf``, ``min(-0,
+0)`` and the like).

Encoding and digests
--------------------
For each input, in order, a record: each argument as its carrier's unsigned
little-endian bytes (4 for i32/f32, 8 for i64/f64), then the outcome: a
byte 0x00 and the result likewise, or a byte 0x01 and the trap's
:class:`TrapCode` byte. An operation's digest is the SHA-256 of its name
(ASCII), a 0x00 byte, and its records. The overall digest is the SHA-256 of,
per operation in table order, its name, a 0x00 byte and its 32-byte digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import wasmpool.wasm as wasm
from wasmpool.wasm import reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import OPS, Family, Opcode
from wasmpool.wasm.types import ValType

SEED = 0x5EED_F10A7_D16E57
QUARTER = 128  # values per category in a pool; a pool and a binary op's pairs hold 4 * QUARTER
DIGEST_FILE = Path(__file__).with_name("float_digest.json")
FORMAT_VERSION = 1  # bump when the encoding above changes

FLOATS = (ValType.F32, ValType.F64)
CARRIER = {ValType.I32: ValType.I32, ValType.F32: ValType.I32,  # the integer type a value crosses as
           ValType.I64: ValType.I64, ValType.F64: ValType.I64}
WIDTH = {ValType.I32: 32, ValType.F32: 32, ValType.I64: 64, ValType.F64: 64}
TO_BITS = {ValType.F32: Opcode.I32_REINTERPRET_F32, ValType.F64: Opcode.I64_REINTERPRET_F64}
FROM_BITS = {ValType.F32: Opcode.F32_REINTERPRET_I32, ValType.F64: Opcode.F64_REINTERPRET_I64}
FLOAT_OF_WIDTH = {32: ValType.F32, 64: ValType.F64}


class TrapCode(IntEnum):
    """A trap as the digest encodes it, the same for every engine."""

    INTEGER_OVERFLOW = 1
    INVALID_CONVERSION = 2
    OTHER = 0xFF


ENGINE_TRAPS = {wasm.TrapKind.INTEGER_OVERFLOW: TrapCode.INTEGER_OVERFLOW,
                wasm.TrapKind.INVALID_CONVERSION: TrapCode.INVALID_CONVERSION}


@dataclass(frozen=True, slots=True)
class Trapped:
    """The outcome of a call that trapped."""

    code: TrapCode


Outcome = int | Trapped
Caller = Callable[[Sequence[int]], Outcome]  # one exported function: argument bits in, outcome out
Engine = Callable[[bytes], Mapping[str, Caller]]  # module bytes in, a caller per export name out


@dataclass(frozen=True, slots=True)
class FloatOp:
    """One instruction under test: its export name, opcode and types."""

    name: str
    opcode: Opcode
    params: tuple[ValType, ...]
    result: ValType


def _float_ops() -> tuple[FloatOp, ...]:
    ops = []
    for info in OPS.values():
        if info.family != Family.NUMERIC or info.pops is None or info.pushes is None:
            continue
        if any(t in FLOATS for t in (*info.pops, *info.pushes)):
            ops.append(FloatOp(info.name, info.op, info.pops, info.pushes[0]))
    return tuple(sorted(ops, key=lambda op: op.opcode))


FLOAT_OPS = _float_ops()


class SplitMix64:
    """Steele, Lea and Flood's SplitMix64: a tiny generator with a fixed, documented output."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def next(self) -> int:
        """The next 64 random bits."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def bits(self, n: int) -> int:
        """``n`` random bits (n <= 64)."""
        return self.next() >> (64 - n) if n else 0

    def below(self, n: int) -> int:
        """A number in ``range(n)`` (n small: the bias of a modulus of 64 bits does not matter)."""
        return self.next() % n


@dataclass(frozen=True, slots=True)
class FloatFormat:
    """The layout of an IEEE 754 binary format."""

    width: int
    frac_bits: int

    @property
    def sign(self) -> int:
        return 1 << (self.width - 1)

    @property
    def exp_mask(self) -> int:
        return ((1 << (self.width - 1 - self.frac_bits)) - 1) << self.frac_bits

    @property
    def quiet(self) -> int:
        return 1 << (self.frac_bits - 1)

    def is_nan(self, bits: int) -> bool:
        """Whether ``bits`` is a NaN of this format (exponent all ones, fraction not zero)."""
        return bits & self.exp_mask == self.exp_mask and bits & (self.quiet * 2 - 1) != 0

    def bits(self, value: float) -> int:
        """The bit pattern of ``value`` rounded to this format."""
        if self.width == 32:
            return int(struct.unpack("<I", struct.pack("<f", value))[0])
        return int(struct.unpack("<Q", struct.pack("<d", value))[0])


FORMATS = {ValType.F32: FloatFormat(32, 23), ValType.F64: FloatFormat(64, 52)}
PRECISION = {ValType.F32: 24, ValType.F64: 53}


def _signed(fmt: FloatFormat, magnitude: int) -> tuple[int, int]:
    return magnitude, magnitude | fmt.sign


def _nans(fmt: FloatFormat, rng: SplitMix64) -> list[int]:
    out = []
    for _ in range(QUARTER):
        quiet = fmt.quiet if rng.bits(1) else 0
        payload = rng.bits(fmt.frac_bits - 1) or 1
        out.append((fmt.sign if rng.bits(1) else 0) | fmt.exp_mask | quiet | payload)
    return out


def _subnormals(fmt: FloatFormat, rng: SplitMix64) -> list[int]:
    out = []
    for _ in range(QUARTER):
        length = 1 + rng.below(fmt.frac_bits)
        significand = rng.bits(length) | (1 << (length - 1))
        out.append((fmt.sign if rng.bits(1) else 0) | significand)
    return out


INT_LIMITS = (-1, -(2**31), 2**31, 2**32, -(2**63), 2**63, 2**64)
F64_ONLY_LIMITS = (-(2**31) - 1, 2**31 - 1, 2**32 - 1)
F32_MAX = float.fromhex("0x1.fffffep127")


def _float_specials(vt: ValType, rng: SplitMix64) -> list[int]:
    fmt = FORMATS[vt]
    found: list[int] = []
    for value in (0.0, math.inf, 1.0, 0.5, 1.5, 2.5):
        found += _signed(fmt, fmt.bits(value))
    min_normal = 1 << fmt.frac_bits
    max_normal = fmt.exp_mask - 1
    for magnitude in (min_normal, max_normal, 1, min_normal - 1):
        found += _signed(fmt, magnitude)
    limits = INT_LIMITS + (F64_ONLY_LIMITS if vt == ValType.F64 else ())
    edges = [float(x) for x in limits]
    if vt == ValType.F64:
        edges += [F32_MAX, float.fromhex("0x1.ffffffp127")]
    for edge in edges:
        bits = fmt.bits(edge)
        found += [bits - 1, bits, bits + 1]
    unique = list(dict.fromkeys(found))
    if len(unique) > QUARTER:
        raise ValueError(f"{len(unique)} {vt.name} specials do not fit in a quarter of {QUARTER}")
    while len(unique) < QUARTER:
        exponent = rng.below(fmt.exp_mask >> fmt.frac_bits) << fmt.frac_bits
        bits = exponent | (fmt.sign if rng.bits(1) else 0)
        fresh = [b for b in (bits - 1, bits, bits + 1) if b not in unique and b >= 0]
        unique += fresh[:QUARTER - len(unique)]
    return unique


def _float_pool(vt: ValType, rng: SplitMix64) -> list[int]:
    fmt = FORMATS[vt]
    randoms = [rng.bits(fmt.width) for _ in range(QUARTER)]
    return _nans(fmt, rng) + _subnormals(fmt, rng) + _float_specials(vt, rng) + randoms


def _int_specials(width: int) -> list[int]:
    mask = (1 << width) - 1
    found = [0, 1, mask, 1 << (width - 1), (1 << (width - 1)) - 1, (1 << (width - 1)) + 1, mask - 1, 2]
    for power in (24, 25, 31, 32, 53, 54, 63):
        if power < width:
            for value in (1 << power, -(1 << power)):
                found += [(value + d) & mask for d in (-1, 0, 1)]
    unique = list(dict.fromkeys(found))
    return unique[:QUARTER]


def _ties(width: int, rng: SplitMix64) -> list[int]:
    """Integers exactly halfway between two floats of a precision below ``width``, and their neighbours."""
    mask = (1 << width) - 1
    out: list[int] = []
    precisions = [p for p in PRECISION.values() if p + 1 < width]
    while len(out) < QUARTER:
        precision = precisions[rng.below(len(precisions))]
        length = precision + 1 + rng.below(width - precision - 1)
        significand = rng.bits(precision) | (1 << (precision - 1))
        tie = ((significand << 1) | 1) << (length - precision - 1)
        value = -tie if rng.bits(1) else tie
        out += [(value + d) & mask for d in (-1, 0, 1)][:QUARTER - len(out)]
    return out


def _int_pool(vt: ValType, rng: SplitMix64) -> list[int]:
    width = WIDTH[vt]
    specials = _int_specials(width)
    while len(specials) < QUARTER:
        specials.append(1 << rng.below(width))
    randoms = [rng.bits(width) for _ in range(QUARTER)]
    magnitudes = []
    for _ in range(QUARTER):
        length = 1 + rng.below(width)
        value = rng.bits(length)
        magnitudes.append((-value if rng.bits(1) else value) & ((1 << width) - 1))
    return specials + randoms + magnitudes + _ties(width, rng)


def _pools() -> dict[ValType, list[int]]:
    rng = SplitMix64(SEED)
    pools = {vt: _float_pool(vt, rng) for vt in FLOATS}
    pools.update({vt: _int_pool(vt, rng) for vt in (ValType.I32, ValType.I64)})
    return pools


POOLS = _pools()
CORE_SPECIALS = {
    vt: [b for value in (0.0, math.inf, 1.0, math.nan) for b in _signed(FORMATS[vt], FORMATS[vt].bits(value))]
    + [1, FORMATS[vt].exp_mask - 1, FORMATS[vt].exp_mask | 1, FORMATS[vt].exp_mask | FORMATS[vt].quiet | 0x5]
    for vt in FLOATS
}


def _permutation(n: int, rng: SplitMix64) -> list[int]:
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def _pool_of(op: FloatOp) -> list[int]:
    operand = op.params[0]
    if op.name.endswith(("reinterpret_i32", "reinterpret_i64")):
        return POOLS[FLOAT_OF_WIDTH[WIDTH[operand]]]
    return POOLS[operand]


def inputs(op: FloatOp) -> list[tuple[int, ...]]:
    """The argument bit patterns ``op`` runs on, in order (see the module docstring)."""
    pool = _pool_of(op)
    if len(op.params) == 1:
        return [(a,) for a in pool]
    order = _permutation(len(pool), SplitMix64(SEED ^ op.opcode))
    pairs = [(a, pool[j]) for a, j in zip(pool, order, strict=True)]
    core = CORE_SPECIALS[op.params[0]]
    return pairs + [(a, b) for a in core for b in core]


def module_bytes(ops: Iterable[FloatOp] = FLOAT_OPS) -> bytes:
    """One module exporting, under each instruction's name, a function over bit patterns (see above)."""
    builder = ModuleBuilder()
    for op in ops:
        body: list[Any] = []
        for index, vt in enumerate(op.params):
            body.append((Opcode.LOCAL_GET, index))
            if vt in FLOATS:
                body.append(FROM_BITS[vt])
        body.append(op.opcode)
        if op.result in FLOATS:
            body.append(TO_BITS[op.result])
        builder.func([CARRIER[t] for t in op.params], [CARRIER[op.result]], body, export=op.name)
    return builder.build()


def run(engine: Engine, ops: Sequence[FloatOp] = FLOAT_OPS) -> dict[str, list[Outcome]]:
    """Every op's outcomes on its inputs, on ``engine``."""
    callers = engine(module_bytes(ops))
    return {op.name: [callers[op.name](args) for args in inputs(op)] for op in ops}


def encode(op: FloatOp, outcomes: Sequence[Outcome]) -> bytes:
    """The records of ``op`` (see the module docstring)."""
    out = bytearray()
    arg_sizes = [WIDTH[t] // 8 for t in op.params]
    result_size = WIDTH[op.result] // 8
    for args, outcome in zip(inputs(op), outcomes, strict=True):
        for value, size in zip(args, arg_sizes, strict=True):
            out += value.to_bytes(size, "little")
        if isinstance(outcome, Trapped):
            out += bytes([1, outcome.code])
        else:
            out += b"\x00" + outcome.to_bytes(result_size, "little")
    return bytes(out)


def op_digest(name: str, records: bytes) -> str:
    return hashlib.sha256(name.encode("ascii") + b"\x00" + records).hexdigest()


def overall_digest(per_op: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name, digest in per_op.items():
        h.update(name.encode("ascii") + b"\x00" + bytes.fromhex(digest))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Digest:
    """Per-operation digests (in table order) and the overall one."""

    per_op: dict[str, str]
    overall: str

    def to_json(self) -> dict[str, Any]:
        counts = {op.name: len(inputs(op)) for op in FLOAT_OPS}
        return {"format": FORMAT_VERSION, "seed": SEED, "quarter": QUARTER, "overall": self.overall,
                "ops": {name: {"inputs": counts.get(name), "sha256": d} for name, d in self.per_op.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Digest:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"digest file format {data.get('format')}, expected {FORMAT_VERSION}")
        return cls({name: entry["sha256"] for name, entry in data["ops"].items()}, data["overall"])


def digest(results: Mapping[str, Sequence[Outcome]], ops: Sequence[FloatOp] = FLOAT_OPS) -> Digest:
    """The digests of ``results`` (outcomes per op name, as :func:`run` gives them)."""
    per_op = {op.name: op_digest(op.name, encode(op, results[op.name])) for op in ops}
    return Digest(per_op, overall_digest(per_op))


def load_expected(path: Path = DIGEST_FILE) -> Digest:
    return Digest.from_json(json.loads(path.read_text()))


def save(found: Digest, path: Path = DIGEST_FILE) -> None:
    path.write_text(json.dumps(found.to_json(), indent=1) + "\n")


def mismatches(expected: Digest, actual: Digest) -> list[str]:
    """The op names whose digests differ, are missing or are extra (empty when the two agree)."""
    names = list(dict.fromkeys([*expected.per_op, *actual.per_op]))
    return [name for name in names if expected.per_op.get(name) != actual.per_op.get(name)]


def _engine_caller(function: Any) -> Caller:
    def call(args: Sequence[int]) -> Outcome:
        try:
            return int(function.call_raw(args))
        except wasm.Trap as trap:
            return Trapped(ENGINE_TRAPS.get(trap.kind, TrapCode.OTHER))
    return call


GAS_LIMIT = 10**9  # far above what the whole run uses on one instance


def ours(*, metered: bool, canonical_nans: bool) -> Engine:
    """Our engine, one variant; ``canonical_nans=False`` is the spec's (the engine default)."""
    def engine(data: bytes) -> Mapping[str, Caller]:
        options = {"canonical_nans": True} if canonical_nans else {}
        compiled = wasm.compile(wasm.decode(data), metered=metered, **options)
        instance = wasm.instantiate(compiled, gas_limit=GAS_LIMIT if metered else None, **options)
        return {name: _engine_caller(export) for name, export in instance.exports.items()}
    return engine


def reference_engine(*, canonical_nans: bool) -> Engine:
    """The reference interpreter."""
    def engine(data: bytes) -> Mapping[str, Caller]:
        options = {"canonical_nans": True} if canonical_nans else {}
        instance = reference.instantiate(wasm.decode(data), **options)
        return {name: _engine_caller(export) for name, export in instance.exports.items()}
    return engine


def main() -> None:
    """Write the stored digest from our engine with canonical NaNs (after a deliberate change only)."""
    wasm.prepare_process()
    found = digest(run(ours(metered=False, canonical_nans=True)))
    save(found)
    print(f"{len(FLOAT_OPS)} ops, {sum(len(inputs(op)) for op in FLOAT_OPS)} inputs, overall {found.overall}")


if __name__ == "__main__":
    main()
