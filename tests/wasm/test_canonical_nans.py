"""The engine's ``canonical_nans`` option: every NaN made by float arithmetic is the positive canonical NaN.

Three paths must agree bit for bit: compiled code (unmetered and metered) and
the reference interpreter, each with the option on. Every NaN-making
instruction gives f32 ``0x7FC00000`` / f64 ``0x7FF8000000000000`` on NaN
operands of any payload and sign and on invalid operations (``0 * inf``,
``inf - inf``, ``0 / 0``, ``sqrt(-1)``), folded at compile time or not; bit
operations (``neg abs copysign``, reinterpretations, loads, stores,
``select``, locals, globals, constants) keep every bit. The compiler checks
for NaNs only where a value leaves a chain of NaN-propagating arithmetic and
keeps running values in *raw* locals unchecked (``compiler.nans``); the
tests at the end prove those shortcuts: the facts they rest on, on random
inputs, the places where checks remain in generated code, and random
programs against the reference, which canonicalizes every result alone.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmpool.wasm as wasm
from tests.wasm.gen.compare import Run, _digest, _global_names, _run, diff_runs
from tests.wasm.gen.modules import GeneratedModule, generate_module
from tests.wasm.recursion import engine_recursion
from tests.wasm.spec_runner import CANONICAL_VARIANTS, Variant, run_spec_script
from wasmpool.wasm import compiler, numeric, numeric_float, reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler.exprs import CANONICAL_NAN_NAME, NEGATIVE_CANONICAL_NAN_NAME
from wasmpool.wasm.compiler.nans import raw_locals
from wasmpool.wasm.opcodes import OPS, Family, Opcode
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.reference.ops import NAN_MAKING
from wasmpool.wasm.types import ValType

F32_CANON = 0x7FC0_0000
F64_CANON = 0x7FF8_0000_0000_0000
CANON = {"f32": F32_CANON, "f64": F64_CANON}
WIDTH = {"f32": 32, "f64": 64}
GAS = 10**12
PATHS = ("plain", "metered", "reference")
SEED = 0x5EED_CA7


# ---------------------------------------------------------------- bit patterns


def nan_bits(t: str, rng: random.Random) -> int:
    """A random NaN of type ``t``: random sign, quiet or signalling, random payload (never zero)."""
    frac_bits = 23 if t == "f32" else 52
    exp = (1 << (WIDTH[t] - 1 - frac_bits)) - 1
    frac = rng.getrandbits(frac_bits) or 1
    return (rng.getrandbits(1) << (WIDTH[t] - 1)) | (exp << frac_bits) | frac


def number_bits(t: str, rng: random.Random) -> int:
    """A random non-NaN value of type ``t`` (finite, infinite, zero or subnormal)."""
    while True:
        bits = rng.getrandbits(WIDTH[t])
        if not is_nan(t, bits):
            return bits


def is_nan(t: str, bits: int) -> bool:
    frac_bits = 23 if t == "f32" else 52
    exp = (1 << (WIDTH[t] - 1 - frac_bits)) - 1
    return (bits >> frac_bits) & exp == exp and bits & ((1 << frac_bits) - 1) != 0


def f32(x: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", x))[0])


def f64(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


BITS: dict[str, Callable[[float], int]] = {"f32": f32, "f64": f64}


# ---------------------------------------------------------------- instructions


def _name(op: Opcode) -> str:
    return OPS[op].name


def _type_name(vt: ValType) -> str:
    return {ValType.F32: "f32", ValType.F64: "f64", ValType.I32: "i32", ValType.I64: "i64"}[vt]


CANONICALIZED = sorted(numeric.CANONICALIZED_OPS)
"""Every NaN-making instruction."""


def signature(op: Opcode) -> tuple[list[str], str]:
    info = OPS[op]
    assert info.pops is not None and info.pushes is not None
    return [_type_name(t) for t in info.pops], _type_name(info.pushes[0])


# ---------------------------------------------------------------- running on the three paths


def instances(data: bytes, imports: dict[str, Any] | None = None) -> dict[str, Any]:
    """The module instantiated with canonical NaNs on each path (compiled plain, metered; reference)."""
    module = wasm.decode(data)
    return {
        "plain": wasm.instantiate(wasm.compile(module, metered=False, canonical_nans=True), imports,
                                  canonical_nans=True),
        "metered": wasm.instantiate(wasm.compile(module, metered=True, canonical_nans=True), imports,
                                    gas_limit=GAS, canonical_nans=True),
        "reference": reference.instantiate(module, imports, canonical_nans=True),
    }


def op_module(ops: Sequence[Opcode]) -> bytes:
    """One exported function per instruction: its operands are the parameters, its result returned."""
    builder = ModuleBuilder()
    for op in ops:
        params, result = signature(op)
        body: list[Any] = [(O.LOCAL_GET, i) for i in range(len(params))]
        builder.func(params, [result], [*body, op], export=_name(op))
    return builder.build()


@pytest.fixture(scope="module")
def op_instances() -> dict[str, Any]:
    return instances(op_module(CANONICALIZED))


def call(instance: Any, name: str, args: Sequence[int]) -> int:
    result = instance.exports[name].call_raw(list(args))
    assert isinstance(result, int)
    return result


# ---------------------------------------------------------------- every NaN-making instruction


def test_the_canonicalized_instructions_are_those_the_issue_names() -> None:
    names = {_name(op) for op in CANONICALIZED}
    expected = {f"{t}.{op}" for t in ("f32", "f64") for op in
                ("add", "sub", "mul", "div", "sqrt", "min", "max", "ceil", "floor", "trunc", "nearest")}
    assert names == expected | {"f32.demote_f64", "f64.promote_f32"}
    assert numeric.CANONICALIZED_OPS == NAN_MAKING  # the reference's own list of NaN-making instructions


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", CANONICALIZED, ids=_name)
def test_nan_operands_give_the_canonical_nan(op: Opcode, path: str, op_instances: dict[str, Any]) -> None:
    """NaNs of random payloads and signs in every operand position, beside NaNs and numbers."""
    rng = random.Random(SEED ^ op)
    params, result = signature(op)
    instance = op_instances[path]
    for _ in range(40):
        for position in range(len(params)):
            args = [number_bits(t, rng) if rng.random() < 0.5 else nan_bits(t, rng) for t in params]
            args[position] = nan_bits(params[position], rng)
            got = call(instance, _name(op), args)
            assert got == CANON[result], f"{_name(op)}{[hex(a) for a in args]} gave {got:#x} on {path}"


INVALID: list[tuple[str, tuple[float, ...]]] = [
    ("mul", (0.0, math.inf)), ("mul", (-0.0, math.inf)), ("mul", (math.inf, -0.0)),
    ("sub", (math.inf, math.inf)), ("sub", (-math.inf, -math.inf)), ("add", (math.inf, -math.inf)),
    ("add", (-math.inf, math.inf)), ("div", (0.0, 0.0)), ("div", (-0.0, 0.0)), ("div", (0.0, -0.0)),
    ("div", (math.inf, math.inf)), ("div", (-math.inf, math.inf)),
    ("sqrt", (-1.0,)), ("sqrt", (-math.inf,)), ("sqrt", (-1e-30,)),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("t", ["f32", "f64"])
@pytest.mark.parametrize(("name", "operands"), INVALID)
def test_invalid_operations_give_the_canonical_nan(name: str, operands: tuple[float, ...], t: str, path: str,
                                                   op_instances: dict[str, Any]) -> None:
    got = call(op_instances[path], f"{t}.{name}", [BITS[t](x) for x in operands])
    assert got == CANON[t], f"{t}.{name}{operands} gave {got:#x} on {path}"


@pytest.mark.parametrize("path", PATHS)
def test_numbers_are_unchanged_by_the_option(path: str, op_instances: dict[str, Any]) -> None:
    """On non-NaN operands the option changes nothing: the same bits as the engine's default semantics."""
    rng = random.Random(SEED)
    plain = wasm.instantiate(wasm.decode(op_module(CANONICALIZED)))
    for op in CANONICALIZED:
        params, result = signature(op)
        for _ in range(30):
            args = [number_bits(t, rng) for t in params]
            want = call(plain, _name(op), args)
            if is_nan(result, want):  # an invalid operation (sqrt of a negative number): canonical now
                want = CANON[result]
            assert call(op_instances[path], _name(op), args) == want, (_name(op), [hex(a) for a in args])


def folded_module() -> tuple[bytes, list[tuple[str, str]]]:
    """Functions computing NaN-making instructions on constants only (folded at compile time)."""
    builder = ModuleBuilder()
    rng = random.Random(SEED + 1)
    cases: list[tuple[str, str]] = []
    const = {"f32": O.F32_CONST, "f64": O.F64_CONST}
    for op in CANONICALIZED:
        params, result = signature(op)
        for k in range(3):
            args = [nan_bits(t, rng) for t in params]
            if k == 2 and _name(op).endswith((".mul", ".sub", ".div")):
                a, b = {"mul": (0.0, math.inf), "sub": (math.inf, math.inf), "div": (0.0, 0.0)}[
                    _name(op).split(".")[1]]
                args = [BITS[params[0]](a), BITS[params[1]](b)]
            name = f"{_name(op)}#{k}"
            builder.func([], [result], [*((const[t], a) for t, a in zip(params, args, strict=True)), op],
                         export=name)
            cases.append((name, result))
    return builder.build(), cases


@pytest.mark.parametrize("path", PATHS)
def test_folded_constants_give_the_canonical_nan(path: str) -> None:
    data, cases = folded_module()
    module = wasm.decode(data)
    source = compiler.render_python(module, 0, canonical_nans=True)
    assert "return kf" in source, source  # folded: the function returns a constant
    instance = instances(data)[path]
    for name, result in cases:
        assert call(instance, name, []) == CANON[result], name


def test_folding_uses_the_canonical_helpers() -> None:
    """The helper table the compiler folds constants with, on NaNs and invalid operations."""
    table = numeric.opcode_helpers(True)
    inf, nan = math.inf, numeric_float.f64_from_bits(0xFFF4_0000_0000_0001)
    assert numeric_float.f64_to_bits(table[O.F64_MUL](0.0, inf)) == F64_CANON
    assert numeric_float.f64_to_bits(table[O.F64_ADD](nan, 1.0)) == F64_CANON
    assert numeric_float.f32_to_bits(table[O.F32_SQRT](-1.0)) == F32_CANON
    assert numeric_float.f64_to_bits(table[O.F64_PROMOTE_F32](numeric_float.f32_from_bits(0xFFA0_0001))) \
        == F64_CANON
    assert numeric.opcode_helpers(False) is numeric.OPCODE_HELPERS
    assert table[O.F64_NEG] is numeric.OPCODE_HELPERS[O.F64_NEG]  # bit operations are not replaced


# ---------------------------------------------------------------- bit operations keep their bits


def bit_module() -> bytes:
    """Bit operations and plain data movement on NaN parameters, memory and globals."""
    b = ModuleBuilder()
    b.memory(1, export="mem")
    g = {t: b.global_(t, True, [(O.F32_CONST if t == "f32" else O.F64_CONST, 0)], export=f"g{t}")
         for t in ("f32", "f64")}
    for t in ("f32", "f64"):
        p = O.F32_CONST if t == "f32" else O.F64_CONST
        i = "i32" if t == "f32" else "i64"
        load, store = (O.F32_LOAD, O.F32_STORE) if t == "f32" else (O.F64_LOAD, O.F64_STORE)
        neg, abs_, copysign = (O.F32_NEG, O.F32_ABS, O.F32_COPYSIGN) if t == "f32" else \
            (O.F64_NEG, O.F64_ABS, O.F64_COPYSIGN)
        to_int = O.I32_REINTERPRET_F32 if t == "f32" else O.I64_REINTERPRET_F64
        from_int = O.F32_REINTERPRET_I32 if t == "f32" else O.F64_REINTERPRET_I64
        x = (O.LOCAL_GET, 0)
        b.func([t], [t], [x, neg], export=f"{t}.neg")
        b.func([t], [t], [x, abs_], export=f"{t}.abs")
        b.func([t, t], [t], [x, (O.LOCAL_GET, 1), copysign], export=f"{t}.copysign")
        b.func([t], [i], [x, to_int], export=f"{t}.to_int")
        b.func([i], [t], [x, from_int], export=f"{t}.from_int")
        b.func([t], [t], [(O.I32_CONST, 8), x, (store, (2, 0)), (O.I32_CONST, 8), (load, (2, 0))],
               export=f"{t}.memory")
        b.func([t, t, "i32"], [t], [x, (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), O.SELECT], export=f"{t}.select")
        b.func([t], [t], [x, (O.LOCAL_SET, 1), (O.LOCAL_GET, 1)], locals=[t], export=f"{t}.local")
        b.func([t], [t], [x, (O.GLOBAL_SET, g[t]), (O.GLOBAL_GET, g[t])], export=f"{t}.global")
        vt = ValType.F32 if t == "f32" else ValType.F64
        b.func([t, "i32"], [t], [(O.LOCAL_GET, 1), (O.IF, vt), x, O.ELSE, x, (O.F32_CONST if t == "f32" else
                                 O.F64_CONST, 0), neg, O.DROP, O.END, (O.LOCAL_SET, 2), (O.LOCAL_GET, 2)],
               locals=[t], export=f"{t}.if")  # an if's result register, then a local
        constant = 0x7FA0_1234 if t == "f32" else 0xFFF4_0000_0000_1234
        b.func([], [t], [(p, constant)], export=f"{t}.const")
    return b.build()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("t", ["f32", "f64"])
def test_bit_operations_keep_nan_payloads(t: str, path: str) -> None:
    rng = random.Random(SEED + WIDTH[t])
    inst = instances(bit_module())[path]
    sign = 1 << (WIDTH[t] - 1)
    for _ in range(30):
        a, b = nan_bits(t, rng), nan_bits(t, rng)
        assert call(inst, f"{t}.neg", [a]) == a ^ sign
        assert call(inst, f"{t}.abs", [a]) == a & ~sign
        assert call(inst, f"{t}.copysign", [a, b]) == (a & ~sign) | (b & sign)
        assert call(inst, f"{t}.to_int", [a]) == a
        assert call(inst, f"{t}.from_int", [a]) == a
        assert call(inst, f"{t}.memory", [a]) == a
        assert call(inst, f"{t}.select", [a, b, 1]) == a
        assert call(inst, f"{t}.select", [a, b, 0]) == b
        assert call(inst, f"{t}.local", [a]) == a
        assert call(inst, f"{t}.global", [a]) == a
        assert call(inst, f"{t}.if", [a, 1]) == a
        assert call(inst, f"{t}.if", [a, 0]) == a
    assert call(inst, f"{t}.const", []) == (0x7FA0_1234 if t == "f32" else 0xFFF4_0000_0000_1234)


# ---------------------------------------------------------------- NaNs leaving arithmetic chains


def chain_module() -> bytes:
    """Arithmetic results leaving a chain in every way a value can be seen (see the tests below)."""
    b = ModuleBuilder()
    b.memory(1, export="mem")
    g = b.global_("f64", True, [(O.F64_CONST, 0)], export="g")
    x, y, z = (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), (O.LOCAL_GET, 2)
    mul_add = [x, y, O.F64_MUL, z, O.F64_ADD]
    identity = b.func(["f64"], ["f64"], [x])
    b.func(["f64"] * 3, ["f64"], mul_add, export="return")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_NEG], export="neg")
    b.func(["f64"] * 3, ["i64"], [*mul_add, O.I64_REINTERPRET_F64], export="reinterpret")
    b.func(["f64"] * 3, ["f64"], [(O.I32_CONST, 0), *mul_add, (O.F64_STORE, (3, 0)), (O.I32_CONST, 0),
                                  (O.F64_LOAD, (3, 0))], export="store")
    b.func(["f64"] * 3, ["f64"], [*mul_add, (O.GLOBAL_SET, g), (O.GLOBAL_GET, g)], export="global")
    b.func(["f64"] * 3, ["f64"], [*mul_add, (O.CALL, identity)], export="call")
    b.func(["f64"] * 3, ["f64"], [*mul_add, (O.F64_CONST, 0), (O.I32_CONST, 1), O.SELECT], export="select")
    b.func(["f64"] * 3, ["f64"], [*mul_add, (O.LOCAL_TEE, 3), (O.LOCAL_GET, 3), O.F64_ADD, (O.LOCAL_GET, 3),
                                  O.F64_COPYSIGN], locals=["f64"], export="tee")
    b.func(["f64"] * 3, ["f64"], [(O.BLOCK, ValType.F64), *mul_add, (O.I32_CONST, 1), (O.BR_IF, 0),
                                  O.DROP, (O.F64_CONST, 0), O.END], export="branch")
    b.func(["f64"] * 3, ["i32"], [*mul_add, (O.LOCAL_TEE, 3), (O.LOCAL_GET, 3), O.F64_NE], locals=["f64"],
           export="compare")
    b.func(["f64"] * 3, ["i32"], [*mul_add, O.I32_TRUNC_SAT_F64_S], export="trunc_sat")
    b.func(["f64"] * 3, ["i32"], [*mul_add, O.I32_TRUNC_F64_S], export="trunc")
    b.func(["f32"] * 3, ["f32"], [x, y, O.F32_MUL, z, O.F32_ADD, O.F32_NEG], export="f32")
    b.func(["f32"] * 3, ["f64"], [x, y, O.F32_MUL, O.F64_PROMOTE_F32, (O.LOCAL_GET, 2), O.F64_PROMOTE_F32,
                                  O.F64_DIV, O.F32_DEMOTE_F64, O.F64_PROMOTE_F32, O.F64_NEG], export="widths")
    # neg and abs between arithmetic and where the value is seen (the sign the check must give)
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_ABS], export="abs")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_NEG, O.F64_NEG], export="neg_neg")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_NEG, O.F64_ABS], export="neg_abs")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_ABS, O.F64_NEG], export="abs_neg")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_NEG, (O.F64_CONST, f64(1.0)), O.F64_ADD], export="neg_add")
    b.func(["f64"] * 3, ["i32"], [*mul_add, O.F64_ABS, (O.F64_CONST, f64(1.0)), O.F64_LT], export="abs_lt")
    b.func(["f64"] * 3, ["f64"], [*mul_add, (O.LOCAL_SET, 3), (O.LOCAL_GET, 3), O.F64_NEG], locals=["f64"],
           export="raw_neg")
    b.func(["f64"] * 3, ["f64"], [*mul_add, O.F64_NEG, (O.LOCAL_SET, 3), (O.LOCAL_GET, 3)], locals=["f64"],
           export="neg_local")
    return b.build()


@pytest.mark.parametrize("path", PATHS)
def test_nans_leaving_a_chain_are_canonical_wherever_they_go(path: str) -> None:
    inst = instances(chain_module())[path]
    rng = random.Random(SEED + 2)
    inf, zero = f64(math.inf), f64(0.0)
    sign = 1 << 63
    for args in ([zero, inf, f64(1.0)], [nan_bits("f64", rng), f64(2.0), f64(1.0)],
                 [f64(1.0), f64(1.0), nan_bits("f64", rng)]):
        for name in ("return", "store", "global", "call", "select", "branch"):
            assert call(inst, name, args) == F64_CANON, name
        assert call(inst, "neg", args) == F64_CANON | sign
        for name, want in (("abs", F64_CANON), ("neg_neg", F64_CANON), ("neg_abs", F64_CANON),
                           ("abs_neg", F64_CANON | sign), ("neg_add", F64_CANON), ("abs_lt", 0),
                           ("raw_neg", F64_CANON | sign), ("neg_local", F64_CANON | sign)):
            assert call(inst, name, args) == want, name
        assert call(inst, "reinterpret", args) == F64_CANON
        assert call(inst, "tee", args) == F64_CANON  # copysign takes the canonical NaN's (positive) sign
        assert call(inst, "compare", args) == 1
        assert call(inst, "trunc_sat", args) == 0
        with pytest.raises(wasm.Trap) as trap:
            call(inst, "trunc", args)
        assert trap.value.kind is wasm.TrapKind.INVALID_CONVERSION
    f32_args = [f32(0.0), f32(math.inf), nan_bits("f32", rng)]
    assert call(inst, "f32", f32_args) == F32_CANON | (1 << 31)
    assert call(inst, "widths", [nan_bits("f32", rng), f32(1.0), f32(1.0)]) == F64_CANON | sign
    assert call(inst, "widths", [f32(0.0), f32(1.0), f32(0.0)]) == F64_CANON | sign  # 0/0 in the chain


# ---------------------------------------------------------------- the variant check


def test_a_module_compiled_for_the_other_float_semantics_is_refused() -> None:
    module = wasm.decode(op_module([O.F64_ADD]))
    for metered in (False, True):
        gas = GAS if metered else None
        spec = wasm.compile(module, metered=metered)
        canonical = wasm.compile(module, metered=metered, canonical_nans=True)
        assert canonical.canonical_nans and not spec.canonical_nans
        with pytest.raises(ValueError, match="canonical_nans=True"):
            wasm.instantiate(spec, gas_limit=gas, canonical_nans=True)
        with pytest.raises(ValueError, match="canonical_nans=False"):
            wasm.instantiate(canonical, gas_limit=gas)
        wasm.instantiate(canonical, gas_limit=gas, canonical_nans=True)  # the matching variant is fine
    with pytest.raises(ValueError, match="metered"):  # the metering check still comes first
        wasm.instantiate(wasm.compile(module, metered=True, canonical_nans=True), canonical_nans=True)


def test_the_default_is_the_spec_semantics() -> None:
    """Without the option a NaN operand's payload comes through (quieted), as the spec allows."""
    module = wasm.decode(op_module([O.F64_ADD]))
    assert not wasm.compile(module, metered=False).canonical_nans
    payload = 0x7FF8_0000_0000_1234
    assert wasm.instantiate(module).exports["f64.add"].call_raw([payload, f64(1.0)]) == payload
    assert reference.instantiate(module).exports["f64.add"].call_raw([payload, f64(1.0)]) == payload
    assert wasm.instantiate(module, canonical_nans=True).exports["f64.add"].call_raw(
        [payload, f64(1.0)]) == F64_CANON


# ---------------------------------------------------------------- the shortcuts, proved


def _float_args(t: str, arity: int, rng: random.Random) -> list[float]:
    decode = numeric_float.f32_from_bits if t == "f32" else numeric_float.f64_from_bits
    return [decode(nan_bits(t, rng) if rng.random() < 0.3 else number_bits(t, rng)) for _ in range(arity)]


@pytest.mark.parametrize("op", CANONICALIZED, ids=_name)
def test_nan_making_instructions_propagate_nans(op: Opcode) -> None:
    """A NaN operand gives a NaN result: why a chain needs one check, where its value leaves it.

    With it, ``canon(op(canon(x), y)) == canon(op(x, y))`` for any ``x``: if
    ``x`` is a NaN both sides are the canonical NaN; if not, ``canon(x) == x``.
    """
    rng = random.Random(SEED ^ op)
    params, _ = signature(op)
    helper = numeric.OPCODE_HELPERS[op]
    canonical = numeric.CANONICAL_OPCODE_HELPERS[op]
    for _ in range(300):
        args = [_float_args(t, 1, rng)[0] for t in params]
        result = helper(*args)
        if any(a != a for a in args):
            assert result != result, (_name(op), args)
        for i, a in enumerate(args):
            cleaned = [*args[:i], numeric_float.canonical(a), *args[i + 1:]]
            bits = numeric_float.f64_to_bits
            assert bits(canonical(*cleaned)) == bits(canonical(*args)), (_name(op), args)


NAN_BLIND = sorted(
    info.op for info in OPS.values() if info.family is Family.NUMERIC and info.pops and info.pushes
    and info.pops[0] in (ValType.F32, ValType.F64) and info.pushes[0] in (ValType.I32, ValType.I64)
    and "reinterpret" not in info.name
)
"""Float comparisons and truncations to integers (trapping and saturating)."""


@pytest.mark.parametrize("op", NAN_BLIND, ids=_name)
def test_comparisons_and_truncations_do_not_care_which_nan(op: Opcode) -> None:
    """Why their operands are never checked: every NaN gives the same result or trap."""
    rng = random.Random(SEED ^ op)
    params, _ = signature(op)
    helper = numeric.OPCODE_HELPERS[op]

    def outcome(args: list[float]) -> object:
        try:
            return helper(*args)
        except wasm.Trap as trap:
            return trap.kind

    decode = numeric_float.f32_from_bits if params[0] == "f32" else numeric_float.f64_from_bits
    for _ in range(200):
        args = _float_args(params[0], len(params), rng)
        i = rng.randrange(len(args))
        args[i] = decode(nan_bits(params[0], rng))
        other = [*args[:i], numeric_float.CANONICAL_NAN, *args[i + 1:]]
        assert outcome(args) == outcome(other), (_name(op), args)


def _source(module: wasm.Module, export: str) -> str:
    index = next(e.index for e in module.exports if e.name == export)
    return compiler.render_python(module, index, canonical_nans=True)


def test_a_chain_is_checked_once_where_it_leaves() -> None:
    """``(a * b) + c`` returned: one check around the whole chain, none inside it."""
    module = wasm.decode(chain_module())
    source = _source(module, "return")
    assert source.count(CANONICAL_NAN_NAME) == 1, source
    plain = compiler.render_python(module, 1)
    assert CANONICAL_NAN_NAME not in plain
    negated = _source(module, "neg")  # -((a * b) + c): one check, giving the negative canonical NaN
    assert negated.count(NEGATIVE_CANONICAL_NAN_NAME) == 1 and CANONICAL_NAN_NAME not in negated, negated
    for unchecked in ("abs_lt", "compare", "trunc_sat"):  # only comparisons and truncations see the value
        assert "kf64" not in _source(module, unchecked), unchecked


def loop_module() -> bytes:
    """A running value kept in locals across a loop (``x = x * x + c``), compared, then returned."""
    b = ModuleBuilder()
    b.func(["f64", "i32"], ["f64"], [
        (O.LOOP, None),
        (O.LOCAL_GET, 2), (O.LOCAL_GET, 2), O.F64_MUL, (O.LOCAL_GET, 0), O.F64_ADD, (O.LOCAL_SET, 2),
        (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_TEE, 1), (O.BR_IF, 0),
        O.END,
        (O.LOCAL_GET, 2),
    ], locals=["f64"], export="iterate")
    b.func(["f64"], ["f64"], [(O.I32_CONST, 3), O.F64_CONVERT_I32_S, (O.LOCAL_SET, 1), (O.LOCAL_GET, 1),
                              (O.LOCAL_GET, 0), O.F64_ADD, (O.LOCAL_SET, 1), (O.LOCAL_GET, 1)],
           locals=["f64"], export="param_in_arithmetic")
    return b.build()


def test_raw_locals_are_unchecked_in_loops_and_checked_where_they_leave() -> None:
    module = wasm.decode(loop_module())
    assert raw_locals(compiler.lower(module, 0)) == frozenset({2})  # parameters are never raw
    assert raw_locals(compiler.lower(module, 1)) == frozenset({1})  # a converted integer is never a NaN
    bits = wasm.decode(bit_module())
    copy = next(e.index for e in bits.exports if e.name == "f64.local")
    assert raw_locals(compiler.lower(bits, copy)) == frozenset()  # a copy of a parameter keeps its bits
    source = compiler.render_python(module, 0, canonical_nans=True)
    body = source[source.index("while"):source.rindex("return")]
    assert CANONICAL_NAN_NAME not in body, source  # no check in the loop
    assert source.count(CANONICAL_NAN_NAME) == 1, source  # one, where the value is returned


@pytest.mark.parametrize("path", PATHS)
def test_raw_locals_give_canonical_nans_and_parameters_keep_theirs(path: str) -> None:
    inst = instances(loop_module())[path]
    rng = random.Random(SEED + 3)
    for _ in range(10):
        nan = nan_bits("f64", rng)
        assert call(inst, "iterate", [nan, 3]) == F64_CANON
        assert call(inst, "param_in_arithmetic", [nan]) == F64_CANON
    assert call(inst, "iterate", [f64(0.5), 2]) == f64(0.75)
    assert call(inst, "iterate", [f64(math.inf), 3]) == f64(math.inf)


def _run_canonical_engine(module: wasm.Module, generated: GeneratedModule, gas_limit: int | None) -> Run:
    compiled = wasm.compile(module, metered=gas_limit is not None, canonical_nans=True)
    instance = wasm.instantiate(compiled, {}, gas_limit=gas_limit, canonical_nans=True)
    exports = instance.exports
    names = _global_names(exports)
    return _run(instance, generated, lambda: _digest(exports["mem"].data, [exports[n].raw for n in names]))


def _run_canonical_reference(module: wasm.Module, generated: GeneratedModule) -> Run:
    instance = reference.instantiate(module, canonical_nans=True)
    exports = instance.exports
    names = _global_names(exports)
    return _run(instance, generated, lambda: _digest(exports["mem"].data, [exports[n].value for n in names]),
                lambda: (instance.nan_choices, instance.nan_results))


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 5),
       profile=st.sampled_from(["expressions", "control"]))
def test_random_programs_agree_with_the_reference_bit_for_bit(seed: int, functions: int,
                                                               profile: str) -> None:
    """Generated programs (NaN inputs, locals, loops, calls, memory): every result, memory and global exact.

    The reference canonicalizes each NaN-making instruction's result on its
    own, so any check the compiler leaves out wrongly shows here.
    """
    generated = generate_module(seed, profile, functions)
    module = wasm.decode(generated.wasm)
    with engine_recursion():
        expected = _run_canonical_reference(module, generated)
        assert expected.error is None, expected.error
        assert not expected.nan_choices and not expected.nan_made  # nothing left open
        for gas in (None, GAS):
            found = diff_runs("canonical", expected, _run_canonical_engine(module, generated, gas), generated)
            assert not found, f"generate_module({seed}, {profile!r}, {functions}), gas {gas}:\n" + "\n".join(
                str(m) for m in found[:10])


@pytest.mark.parametrize("bench", ["mandelbrot_f32", "mandelbrot_f64"])
def test_the_float_benchmarks_hold_no_nan_check(bench: str) -> None:
    """The benchmarks keep their running values in raw locals and compare them: no NaN check at all.

    Why the option costs nothing measurable there (``wasmpool bench --engines
    wasmpool,canonical``); a compiler change that puts checks back into these
    loops makes them slower, and fails here first.
    """
    data = (Path(__file__).resolve().parents[2] / "bench" / "engine" / f"{bench}.wasm").read_bytes()
    module = wasm.decode(data)
    for index in range(module.num_imported_funcs, module.num_imported_funcs + len(module.funcs)):
        plain = compiler.render_python(module, index).splitlines()
        canonical = compiler.render_python(module, index, canonical_nans=True).splitlines()
        assert len(plain) == len(canonical)
        changed = [c for p, c in zip(plain, canonical, strict=True) if p != c]
        assert not changed, "\n".join(changed)


FLOAT_SCRIPTS = ("conversions", "f32", "f64", "float_exprs", "float_memory", "float_misc")
"""The spec scripts whose expected NaNs all come from arithmetic."""


@pytest.mark.spec
@pytest.mark.parametrize("variant", sorted(CANONICAL_VARIANTS))
@pytest.mark.parametrize("script", FLOAT_SCRIPTS)
def test_the_spec_float_scripts_give_canonical_nans(script: str, variant: Variant, spec_data: Path) -> None:
    """Where the suite accepts any arithmetic NaN, canonical NaNs must give the canonical one."""
    failures = [f"{command.id}: {outcome.message}"
                for command, outcome in run_spec_script(script, variant=variant, strict_nans=True)
                if not outcome.passed]
    assert not failures, "\n".join(failures[:10])
