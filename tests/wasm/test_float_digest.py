"""The float determinism digest (see ``float_digest``): its inputs, encoding and comparison.

What the digest covers (every float instruction, the input categories), and
that it is sensitive: one flipped result bit or one changed trap kind changes
the op's digest and the overall one, and a mismatch names the op. The runs of
the engine and the reference against the stored digest are in
``test_float_digest_engines.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tests.wasm import float_digest as fd
from wasmpool.wasm.opcodes import OPS
from wasmpool.wasm.types import ValType

# Every float instruction and conversion of WebAssembly 2.0 outside memory and constants.
SPEC_FLOAT_OPS = {
    *(f"{t}.{op}" for t in ("f32", "f64") for op in (
        "eq", "ne", "lt", "gt", "le", "ge", "abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt",
        "add", "sub", "mul", "div", "min", "max", "copysign")),
    *(f"i{w}.trunc{sat}_f{f}_{s}" for w in (32, 64) for sat in ("", "_sat") for f in (32, 64) for s in "su"),
    *(f"f{f}.convert_i{w}_{s}" for f in (32, 64) for w in (32, 64) for s in "su"),
    "f32.demote_f64", "f64.promote_f32",
    "i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64",
}


@pytest.fixture(scope="module")
def results() -> dict[str, list[fd.Outcome]]:
    """Outcomes of the reference interpreter with the spec's NaNs: the sensitivity tests need any run."""
    return fd.run(fd.reference_engine(canonical_nans=False))


def _flip(outcomes: Sequence[fd.Outcome], index: int, mask: int) -> list[fd.Outcome]:
    changed = list(outcomes)
    value = changed[index]
    assert not isinstance(value, fd.Trapped)
    changed[index] = value ^ mask
    return changed


def test_every_float_instruction_is_covered_once() -> None:
    names = [op.name for op in fd.FLOAT_OPS]
    assert len(names) == len(set(names)) == len(SPEC_FLOAT_OPS) == 70
    assert set(names) == SPEC_FLOAT_OPS
    for op in fd.FLOAT_OPS:
        assert OPS[op.opcode].name == op.name


def test_float_pools_hold_a_quarter_of_each_category() -> None:
    q = fd.QUARTER
    for vt in fd.FLOATS:
        fmt, pool = fd.FORMATS[vt], fd.POOLS[vt]
        assert len(pool) == 4 * q
        nans, subnormals, specials = pool[:q], pool[q:2 * q], pool[2 * q:3 * q]
        assert all(fmt.is_nan(b) for b in nans)
        assert {b & fmt.quiet != 0 for b in nans} == {True, False}  # quiet and signalling
        assert {b & fmt.sign != 0 for b in nans} == {True, False}
        assert all(b & fmt.exp_mask == 0 and b & ~fmt.sign for b in subnormals)
        assert {b & fmt.sign != 0 for b in subnormals} == {True, False}
        for value in (0.0, float("inf"), 1.0):
            assert {fmt.bits(value), fmt.bits(-value)} <= set(specials)
        for limit in (-(2**31), 2**31, 2**32, -(2**63), 2**63, 2**64, -1):  # with their neighbours
            bits = fmt.bits(float(limit))
            assert {bits - 1, bits, bits + 1} <= set(specials)


def test_inputs_are_fixed_and_binary_ops_meet_every_pair_of_core_specials() -> None:
    first = {op.name: fd.inputs(op) for op in fd.FLOAT_OPS}
    assert first == {op.name: fd.inputs(op) for op in fd.FLOAT_OPS}
    mul = next(op for op in fd.FLOAT_OPS if op.name == "f64.mul")
    zero, inf = fd.FORMATS[ValType.F64].bits(0.0), fd.FORMATS[ValType.F64].bits(float("inf"))
    assert (zero, inf) in first["f64.mul"] and (inf, zero) in first["f64.mul"]
    assert len(first[mul.name]) == 4 * fd.QUARTER + len(fd.CORE_SPECIALS[ValType.F64]) ** 2


def test_the_stored_digest_names_every_op_with_its_input_count() -> None:
    data = json.loads(fd.DIGEST_FILE.read_text())
    assert list(data["ops"]) == [op.name for op in fd.FLOAT_OPS]
    assert {name: entry["inputs"] for name, entry in data["ops"].items()} == {
        op.name: len(fd.inputs(op)) for op in fd.FLOAT_OPS}
    stored = fd.load_expected()
    assert fd.overall_digest(stored.per_op) == stored.overall


def test_one_flipped_result_bit_changes_the_digest(results: dict[str, list[fd.Outcome]]) -> None:
    base = fd.digest(results)
    for op in fd.FLOAT_OPS:
        outcomes = results[op.name]
        index = next(i for i, o in enumerate(outcomes) if not isinstance(o, fd.Trapped))
        records = fd.encode(op, outcomes)
        for mask in (1, 1 << (fd.WIDTH[op.result] - 1)):  # the lowest and the highest bit
            flipped = fd.encode(op, _flip(outcomes, index, mask))
            assert len(flipped) == len(records)
            assert sum(a != b for a, b in zip(records, flipped, strict=True)) == 1
            assert fd.op_digest(op.name, flipped) != base.per_op[op.name]
    op = fd.FLOAT_OPS[-1]
    changed = fd.digest({**results, op.name: _flip(results[op.name], 0, 1)})
    assert changed.overall != base.overall


def test_a_changed_trap_kind_changes_the_digest(results: dict[str, list[fd.Outcome]]) -> None:
    op = next(op for op in fd.FLOAT_OPS if op.name == "i32.trunc_f64_s")
    outcomes = list(results[op.name])
    index = next(i for i, o in enumerate(outcomes) if o == fd.Trapped(fd.TrapCode.INTEGER_OVERFLOW))
    before = fd.op_digest(op.name, fd.encode(op, outcomes))
    outcomes[index] = fd.Trapped(fd.TrapCode.INVALID_CONVERSION)
    assert fd.op_digest(op.name, fd.encode(op, outcomes)) != before


def test_a_mismatch_names_the_op_that_changed(results: dict[str, list[fd.Outcome]]) -> None:
    base = fd.digest(results)
    assert fd.mismatches(base, fd.digest(results)) == []
    for name in ("f32.add", "f64.promote_f32", "i64.trunc_sat_f64_u"):
        index = next(i for i, o in enumerate(results[name]) if not isinstance(o, fd.Trapped))
        changed = fd.digest({**results, name: _flip(results[name], index, 1)})
        assert fd.mismatches(base, changed) == [name]
    missing = fd.Digest({k: v for k, v in base.per_op.items() if k != "f32.sqrt"}, base.overall)
    assert fd.mismatches(base, missing) == ["f32.sqrt"]
