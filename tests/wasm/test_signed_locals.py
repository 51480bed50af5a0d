"""Signed locals (``compiler.signed``): i32 locals held as signed ints, compared with one ``<``.

The analysis is checked on its own (which locals it keeps, and every
use or write that rules a local and its group out), on the code it lets
the compiler write (the quicksort of the engine benchmarks), on the
memory's signed view across ``memory.grow``, and against the reference
interpreter on random programs that load, store, copy and compare words
of every sign at aligned and unaligned addresses, with some of the
locals also used in arithmetic or assigned large constants.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.wasm.test_loop_alignment import run_everywhere
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import lower, render_python
from wasmpool.wasm.compiler.emit import prepare
from wasmpool.wasm.compiler.ir import Const, IRFunction, Label, LabelKind, Loc, Op, Reg
from wasmpool.wasm.compiler.signed import signed_locals
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime.memory import Memory
from wasmpool.wasm.types import FuncType, ValType

ROOT = Path(__file__).resolve().parents[2]
WORDS = (0, 1, 7, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xFFFFFFFE, 12345, 0xDEADBEEF, 0x40000000,
         0xC0000000)
IMAGE = b"".join(w.to_bytes(4, "little") for w in WORDS) * 16  # words of both signs, repeated
I32 = "i32"


def build(body: list[Any], params: int = 1, locals_: int = 4, grow: bool = False) -> bytes:
    """``run(p) -> i32``: ``body`` over the parameter and ``locals_`` i32 locals, a page of IMAGE."""
    builder = ModuleBuilder()
    builder.memory(1, 4 if grow else 1)
    builder.data([(O.I32_CONST, 0)], IMAGE)
    builder.func(params=[I32] * params, results=[I32], body=body, locals=[I32] * locals_, export="run")
    return builder.build()


def analysed(body: list[Any], locals_: int = 4) -> Any:
    func = lower(wasm.decode(build(body, locals_=locals_)), 0)
    prepare(func)
    return signed_locals(func)


def load_into(local: int, address: int) -> list[Any]:
    return [(O.I32_CONST, address), (O.I32_LOAD, (2, 0)), (O.LOCAL_SET, local)]


def compare(a: int, b: int, op: O = O.I32_LT_S) -> list[Any]:
    return [(O.LOCAL_GET, a), (O.LOCAL_GET, b), op]


def test_loaded_locals_compared_signed_are_kept_with_their_loads_compares_and_stores() -> None:
    body = [*load_into(1, 16), *load_into(2, 20),
            (O.I32_CONST, 40), (O.LOCAL_GET, 2), (O.I32_STORE, (2, 0)),
            *compare(1, 2)]
    signed = analysed(body)
    assert signed.locals == {1, 2}
    assert len(signed.loads) == 2 and len(signed.stores) == 1 and len(signed.compares) == 1
    assert not signed.unsigned_view  # every word access goes through the signed view
    source = render_python(wasm.decode(build(body)), 0)
    assert "wi = MEM.wi32" in source and "w4" not in source
    assert "0x80000000" not in source and re.search(r"\bl1 < l2\b", source), source


def test_a_local_used_as_a_number_is_ruled_out_with_every_local_it_meets() -> None:
    arithmetic = [*load_into(1, 16), *load_into(2, 20), *load_into(3, 24),
                  *compare(1, 2), O.DROP, *compare(2, 3), O.DROP,  # one group: 1, 2, 3
                  (O.LOCAL_GET, 3), (O.I32_CONST, 1), O.I32_ADD]  # 3 is read by an add
    assert not analysed(arithmetic)
    separate = [*load_into(1, 16), *load_into(2, 20), *load_into(3, 24), *load_into(4, 28),
                *compare(1, 2), O.DROP, *compare(3, 4, O.I32_GE_S), O.DROP,
                (O.LOCAL_GET, 4)]  # 4 is returned: its group (3, 4) goes, (1, 2) stays
    assert analysed(separate).locals == {1, 2}


@pytest.mark.parametrize("case", ["parameter", "select", "large constant", "address", "call argument",
                                  "branch condition", "no ordering", "register operand"])
def test_each_other_use_or_write_rules_the_local_out(case: str) -> None:
    tail = [*compare(1, 2), O.DROP]
    body = {
        "parameter": [*load_into(1, 16), *compare(1, 0), O.DROP],
        "select": [*load_into(1, 16), *load_into(2, 20), (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), (O.LOCAL_GET, 0),
                   O.SELECT, O.DROP, *tail],
        "large constant": [*load_into(1, 16), (O.I32_CONST, -1), (O.LOCAL_SET, 2), *tail],
        "address": [*load_into(1, 16), *load_into(2, 20), (O.LOCAL_GET, 2), (O.LOCAL_GET, 1),
                    (O.I32_STORE, (2, 0)), *tail],
        "call argument": [*load_into(1, 16), *load_into(2, 20), (O.LOCAL_GET, 1), (O.CALL, 0), O.DROP,
                          *tail],
        "branch condition": [*load_into(1, 16), *load_into(2, 20), (O.BLOCK, None), (O.LOCAL_GET, 1),
                             (O.BR_IF, 0), O.END, *tail],
        "no ordering": [*load_into(1, 16), *load_into(2, 20), *compare(1, 2, O.I32_EQ), O.DROP],
        "register operand": [*load_into(1, 16), (O.LOCAL_GET, 1), (O.I32_CONST, 20), (O.I32_LOAD, (2, 0)),
                             O.I32_LT_S, O.DROP],
    }[case]
    assert not analysed([*body, (O.I32_CONST, 0)])


def test_small_constants_may_be_assigned_and_large_ones_are_compared_in_signed_form() -> None:
    body = [*load_into(1, 16), (O.I32_CONST, 5), (O.LOCAL_SET, 2), (O.LOCAL_GET, 1), (O.I32_CONST, -3),
            O.I32_GT_S, (O.LOCAL_GET, 2), (O.LOCAL_GET, 1), O.I32_LT_S, O.I32_ADD]
    assert analysed(body).locals == {1, 2}
    source = render_python(wasm.decode(build(body)), 0)
    assert "l1 > -3" in source, source
    for address in (0, 12, 16, 20, 24, 28):
        data = build([(O.I32_CONST, address), *body[1:]])
        plain, metered, expected = run_everywhere(data, (0,))
        assert plain == metered == expected, address


def test_the_quicksort_of_the_benchmarks_compares_its_loaded_values_directly() -> None:
    module = wasm.decode((ROOT / "bench" / "engine" / "sort.wasm").read_bytes())
    func = lower(module, 1)
    prepare(func)
    assert len(analysed_locals := signed_locals(func).locals) == 3, analysed_locals  # pivot, a[i], a[j]
    source = render_python(module, 1)
    inner = [line.strip() for line in source.splitlines() if line.strip().startswith("if not (")]
    assert any(re.fullmatch(r"if not \(l\d < l\d\):", line) for line in inner), inner
    plain, metered, expected = run_everywhere((ROOT / "bench" / "engine" / "sort.wasm").read_bytes(), (300,))
    assert plain == metered == expected != 0  # sorted (the checksum is 0 for an unsorted array)


def test_the_signed_view_is_made_on_first_use_and_made_again_after_a_grow() -> None:
    memory = Memory(1, 2)
    assert memory._wi32 is None  # an instance that never reads it pays nothing for it
    view = memory.wi32
    memory.w32[3] = 0xFFFFFFFE
    assert view[3] == -2 and memory.wi32 is view
    assert memory.grow(1) == 1
    with pytest.raises(ValueError):
        view[3]  # released: the old buffer can no longer be read
    assert memory.wi32[3] == -2 and len(memory.wi32) == 2 * 65536 // 4


def test_a_grow_between_signed_loads_reads_the_grown_memory() -> None:
    body = [*load_into(1, 16), (O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP,
            (O.I32_CONST, 65536), (O.I32_CONST, -0x7FFFFFFB), (O.I32_STORE, (2, 0)),
            (O.I32_CONST, 65536), (O.I32_LOAD, (2, 0)), (O.LOCAL_SET, 2),
            *compare(2, 1), (O.I32_CONST, 3), (O.LOCAL_GET, 2), (O.I32_STORE, (2, 0)),  # 3 <- l2
            (O.I32_CONST, 3), (O.I32_LOAD, (2, 0)), O.I32_ADD]
    data = build(body, grow=True)
    assert analysed(body).locals == {1, 2}
    assert "st_i32" in render_python(wasm.decode(data), 0)  # the unaligned store of a signed local
    plain, metered, expected = run_everywhere(data, (0,))
    assert plain == metered == expected == 0x80000005  # l2 = 0x80000005 is not below l1 = 0x80000000


def random_program(rng: random.Random) -> list[Any]:
    """Locals 1-4 loaded from aligned and unaligned addresses, copied, given constants, compared every
    way with each other and constants, stored back and sometimes used in arithmetic; local 5 counts
    loop turns, and the result sums the comparisons and a checksum of the stored words."""
    def address() -> list[Any]:
        if rng.randrange(4):
            return [(O.I32_CONST, 4 * rng.randrange(len(IMAGE) // 4 - 1) + rng.choice([0, 0, 0, 1, 2, 3]))]
        return [(O.LOCAL_GET, 0), (O.I32_CONST, 60), O.I32_AND]  # from the parameter

    def local() -> int:
        return rng.randrange(1, 5)

    def step() -> list[Any]:
        kind = rng.randrange(12)
        if kind < 3:
            return [*address(), (O.I32_LOAD, (2, 0)), (O.LOCAL_SET, local())]
        if kind == 3:
            return [(O.LOCAL_GET, local()), (O.LOCAL_SET, local())]
        if kind == 4:
            return [(O.I32_CONST, rng.choice([0, 3, 0x7FFFFFFF, -1, -0x80000000])), (O.LOCAL_SET, local())]
        if kind == 5:
            return [*address(), (O.LOCAL_GET, local()), (O.I32_STORE, (2, 0))]
        if kind == 6 and rng.randrange(3) == 0:  # now and then a local is used as a number
            operation = rng.choice([O.I32_ADD, O.I32_SHR_U, O.I32_LT_U, O.I32_REM_U])
            return [(O.LOCAL_GET, local()), (O.I32_CONST, 7), operation, (O.LOCAL_GET, 6), O.I32_ADD,
                    (O.LOCAL_SET, 6)]
        op = rng.choice([O.I32_LT_S, O.I32_GT_S, O.I32_LE_S, O.I32_GE_S, O.I32_EQ, O.I32_NE])
        right = [(O.LOCAL_GET, local())] if rng.randrange(3) else [
            (O.I32_CONST, rng.choice([0, -1, 5, 0x7FFFFFFF, -0x80000000, -0x7FFFFFFF]))]
        return [(O.LOCAL_GET, local()), *right, op, (O.LOCAL_GET, 6), O.I32_ADD, (O.LOCAL_SET, 6)]

    def some(count: int) -> list[Any]:
        return [part for _ in range(rng.randrange(1, count + 1)) for part in step()]

    body = some(6)
    body += [(O.I32_CONST, 0), (O.LOCAL_SET, 5), (O.LOOP, None), *some(6),
             (O.LOCAL_GET, 5), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 5), (O.I32_CONST, 3), O.I32_LT_U,
             (O.BR_IF, 0), O.END, *some(4)]
    checksum: list[Any] = [(O.LOCAL_GET, 6)]
    for word in range(0, 64, 4):  # the stored words, as numbers
        checksum += [(O.I32_CONST, 31), O.I32_MUL, (O.I32_CONST, word), (O.I32_LOAD, (2, 0)), O.I32_ADD]
    return [*body, *checksum]


@pytest.mark.parametrize("first", range(0, 400, 50))
def test_random_programs_agree_with_the_reference(first: int) -> None:
    kept = 0
    for seed in range(first, first + 50):
        rng = random.Random(seed)
        body = random_program(rng)
        data = build(body, locals_=6)
        kept += bool(analysed(body, locals_=6))
        for p in (0, 4, rng.randrange(1 << 32)):
            plain, metered, expected = run_everywhere(data, (p,))
            assert plain == metered == expected, (seed, p)
    assert kept >= 10  # the programs exercise the signed form, not only its absence


def test_a_load_whose_register_is_read_before_the_local_takes_it_stays_unsigned() -> None:
    """Registers are read once in lowered code; a form where one is read twice (say, by a later pass)
    must not hand a signed value to the other reader."""
    i32 = ValType.I32
    word, pivot = Loc(1), Loc(2)
    body = [Op(O.I32_LOAD, (Reg(0),), (Const(16, i32),), (2, 0)),
            Op(O.I32_SHR_U, (Reg(1),), (Reg(0), Const(1, i32))),  # the load's value, read as a number
            Op(O.LOCAL_SET, (word,), (Reg(0),)),
            Op(O.I32_LOAD, (Reg(0),), (Const(20, i32),), (2, 0)),
            Op(O.LOCAL_SET, (pivot,), (Reg(0),)),
            Op(O.I32_LT_S, (Reg(0),), (word, pivot))]
    func = IRFunction(0, FuncType((i32,), ()), (i32, i32, i32), body, Label(0, LabelKind.FUNC, 0, 0), 2)
    assert not signed_locals(func)  # the word's load is shared, so its group (word, pivot) goes
    body[1] = Op(O.I32_SHR_U, (Reg(1),), (Const(7, i32), Const(1, i32)))
    assert signed_locals(func).locals == {1, 2}
