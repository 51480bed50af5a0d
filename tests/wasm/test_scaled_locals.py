"""Scaled locals: inside a loop, an aligned pointer is held as its view's index (``compiler/scaled.py``).

Each shape below is a loop over a pointer the way compiled C writes one --
stepped up or down (by an add, by the add of a two's complement, by a
subtraction), through 4- and 8-byte items, stored through, left by a branch
to an outer block, stepped past ``2**32`` so that it wraps to the bottom of
memory, or down past 0 so that it traps -- and every one runs on the compiled
code (plain and metered) and on the reference interpreter with the same
results, traps and memory. The shapes the analysis should take do show the
index form in their source (``p0 = l0 >> 2``, ``w4[p0]``), and the pointer's
value after the loop (written back from the index) is part of every result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.wasm import test_loop_alignment as loop_alignment
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import render_python
from wasmpool.wasm.compiler.align import local_zeros, loop_zeros
from wasmpool.wasm.compiler.exprs import Scaled
from wasmpool.wasm.compiler.ir import Loop
from wasmpool.wasm.compiler.lower import ModuleInfo, lower_function
from wasmpool.wasm.compiler.scaled import scaled_locals
from wasmpool.wasm.opcodes import Opcode as O

IMAGE = bytes((i * 7 + 3) & 0xFF for i in range(4096))  # no two neighbouring words alike
P, N, SUM, TURN = 0, 1, 2, 3  # run(p, n): the pointer (the parameter), the turns, a sum, a counter


def add_to_sum(load: O = O.I32_LOAD, offset: int = 0) -> list[Any]:
    """``sum += load(p + offset)`` (an i64 load is wrapped to i32 first)."""
    wrap = [O.I32_WRAP_I64] if load in (O.I64_LOAD, O.I64_LOAD32_U) else []
    align = 3 if load is O.I64_LOAD else 2
    return [(O.LOCAL_GET, P), (load, (align, offset)), *wrap,
            (O.LOCAL_GET, SUM), O.I32_ADD, (O.LOCAL_SET, SUM)]


def step(by: int, sub: bool = False) -> list[Any]:
    """``p += by``, or ``p -= -by`` when ``sub``."""
    if sub:
        return [(O.LOCAL_GET, P), (O.I32_CONST, -by), O.I32_SUB, (O.LOCAL_SET, P)]
    return [(O.LOCAL_GET, P), (O.I32_CONST, by), O.I32_ADD, (O.LOCAL_SET, P)]


def turns(body: list[Any]) -> list[Any]:
    """``n`` turns of ``body`` (at least one), leaving by the loop's tail like compiled C."""
    return [(O.I32_CONST, 0), (O.LOCAL_SET, TURN), (O.LOOP, None), *body,
            (O.LOCAL_GET, TURN), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, TURN), (O.LOCAL_GET, N),
            O.I32_LT_U, (O.BR_IF, 0), O.END]


def at(address: int) -> list[Any]:
    return [(O.I32_CONST, address), (O.LOCAL_SET, P)]


STORE_TWO = [(O.LOCAL_GET, P), (O.LOCAL_GET, TURN), (O.I32_STORE, (2, 0)),
             (O.LOCAL_GET, P), (O.LOCAL_GET, TURN), (O.I32_CONST, 99), O.I32_MUL, (O.I32_STORE, (2, 4))]
SUM_BACK = [(O.I32_CONST, 2048), (O.LOCAL_SET, P), *turns([*add_to_sum(), *step(4)])]  # what was stored
LEAVE_ON_A_HIGH_BYTE = [  # leaves the block once the word's low byte is above 0x80 (at 1044)
    (O.BLOCK, None), (O.I32_CONST, 1024), (O.LOCAL_SET, P),
    *turns([*add_to_sum(), (O.LOCAL_GET, P), (O.I32_LOAD, (2, 0)), (O.I32_CONST, 0xFF), O.I32_AND,
            (O.I32_CONST, 0x80), O.I32_GT_U, (O.BR_IF, 1), *step(4)]),
    O.END]
AS_A_NUMBER = [(O.LOCAL_GET, P), (O.LOCAL_GET, SUM), O.I32_XOR, (O.LOCAL_SET, SUM),
               (O.LOCAL_GET, P), (O.LOCAL_GET, SUM), O.I32_MUL, (O.LOCAL_SET, SUM)]



def afresh(entry: int) -> list[Any]:
    """p = entry; each turn leaves the block when the turns are done, else sets p afresh and reads through it.

    Nothing in the loop reads what p held on entry, so p is aligned wherever the loop reads it; a
    loop that leaves before its first assignment leaves p as it was.
    """
    return [(O.BLOCK, None), *at(entry), (O.I32_CONST, 0), (O.LOCAL_SET, TURN), (O.LOOP, None),
            (O.LOCAL_GET, TURN), (O.LOCAL_GET, N), O.I32_GE_U, (O.BR_IF, 1),
            (O.LOCAL_GET, TURN), (O.I32_CONST, 3), O.I32_SHL, (O.I32_CONST, 1024), O.I32_ADD,
            (O.LOCAL_SET, P),
            *add_to_sum(), *add_to_sum(O.I32_LOAD, 4), *step(4), *add_to_sum(),
            (O.LOCAL_GET, TURN), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_SET, TURN), (O.BR, 0), O.END, O.END]


SHAPES: dict[str, tuple[list[Any], int | None]] = {  # name: (body, the shift the loop holds p by, or None)
    "up by 4": ([*at(1024), *turns([*add_to_sum(), *step(4)])], 2),
    "down by a subtraction": ([*at(2048), *turns([*add_to_sum(), *step(-4, sub=True)])], 2),
    "down by an add of -8": ([*at(2048), *turns([*add_to_sum(), *step(-8)])], 2),
    "8-byte items": ([*at(1024), *turns([*add_to_sum(O.I64_LOAD), *step(8)])], 3),
    "4- and 8-byte items": ([*at(1024), *turns([*add_to_sum(O.I64_LOAD), *add_to_sum(O.I32_LOAD, 4),
                                                *add_to_sum(O.I32_LOAD, 8), *step(8)])], 2),
    "offsets not a multiple of the item": ([*at(1024), *turns([*add_to_sum(O.I32_LOAD, 2),
                                                               *add_to_sum(O.I32_LOAD, 4),
                                                               *add_to_sum(O.I32_LOAD, 8), *step(4)])], 2),
    "as many accesses it cannot index by": (
        [*at(1024), *turns([*add_to_sum(O.I32_LOAD, 2), *add_to_sum(O.I32_LOAD, 8), *step(4)])], None),
    "8-byte items at a 4-byte pointer": ([*at(1028), *turns([*add_to_sum(O.I64_LOAD), *step(8)])], None),
    "wraps past 2**32 to the bottom of memory": ([*at(0xFFFF_FFF8), *turns([*step(8), *add_to_sum()])], 2),
    "runs down past 0": ([*at(8), *turns([*add_to_sum(), *step(-4)])], 2),
    "runs up past 2**31": ([*at(0x7FFF_FFF8), *turns([*step(8), *add_to_sum()])], 2),
    "stores through it": ([*at(2048), *turns([*STORE_TWO, *step(8)]), *SUM_BACK], 2),
    "leaves by a branch to an outer block": (LEAVE_ON_A_HIGH_BYTE, 2),
    "the parameter as it came": (turns([*add_to_sum(), *step(4)]), None),
    "read as a number more than it is an address": ([*at(1024), *turns([*add_to_sum(), *AS_A_NUMBER,
                                                                         *step(4)])], None),
    "stepped by 2": ([*at(1024), *turns([*add_to_sum(), *step(2)])], None),
    "set afresh each turn, entered aligned": (afresh(1024), 2),
    "set afresh each turn, entered unaligned": (afresh(1026), None),  # kept as it is when no turn sets it
}


def module(body: list[Any]) -> bytes:
    """``run(p, n) -> i32``: ``body``, then ``sum + p * 31`` (the pointer after the loop counts)."""
    builder = ModuleBuilder()
    builder.memory(1, 1, export="mem")
    builder.data([(O.I32_CONST, 0)], IMAGE)
    builder.func(params=["i32", "i32"], results=["i32"], locals=["i32", "i32"], export="run",
                 body=[*body, (O.LOCAL_GET, SUM), (O.LOCAL_GET, P), (O.I32_CONST, 31), O.I32_MUL, O.I32_ADD])
    return builder.build()


def run_everywhere(data: bytes, args: tuple[int, ...]) -> list[Any]:
    """``run(*args)`` and the memory after it, on the compiled code (plain, metered) and the reference."""
    return loop_alignment.run_everywhere(data, args, memory="mem")


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("args", [(0, 0), (0, 1), (0, 3), (0, 9), (1026, 5), (0xFFFF_FFFC, 2)])
def test_every_shape_agrees_with_the_reference(name: str, args: tuple[int, int]) -> None:
    body, _ = SHAPES[name]
    plain, metered, expected = run_everywhere(module(body), args)
    assert plain == metered == expected, name


def test_the_wrapping_trapping_and_leaving_shapes_do_so() -> None:
    """Past 2**32 the pointer reads the bottom of memory; below 0 it traps; a branch out leaves it where
    it was (on every path alike)."""
    outcomes = run_everywhere(module(SHAPES["wraps past 2**32 to the bottom of memory"][0]), (0, 3))
    first_words = sum(int.from_bytes(IMAGE[a:a + 4], "little") for a in (0, 8, 16))
    assert {result for result, _ in outcomes} == {(first_words + 16 * 31) & 0xFFFF_FFFF}
    assert run_everywhere(module(SHAPES["runs down past 0"][0]), (0, 2))[0][0] != "Trap"  # 8, 4
    left = run_everywhere(module(LEAVE_ON_A_HIGH_BYTE), (0, 9))
    words = sum(int.from_bytes(IMAGE[a:a + 4], "little") for a in range(1024, 1048, 4))
    assert {result for result, _ in left} == {(words + 1044 * 31) & 0xFFFF_FFFF}
    assert {result for result, _ in run_everywhere(module(SHAPES["runs down past 0"][0]), (0, 4))} == {"Trap"}


@pytest.mark.parametrize("name", SHAPES)
def test_the_loop_holds_the_pointer_as_an_index_exactly_when_it_pays(name: str) -> None:
    body, shift = SHAPES[name]
    source = render_python(wasm.decode(module(body)), 0)
    if shift is None:
        assert "p0" not in source, source
        return
    assert f"p0 = l0 >> {shift}" in source and f"l0 = p0 << {shift}" in source, source
    entry = f"p0 = l0 >> {shift}"
    loop_code = source[source.index(entry) + len(entry):source.index(f"l0 = p0 << {shift}")]
    view = "w8" if shift == 3 else "w4"
    assert re.search(rf"{view}\[\(?p0\b", loop_code), loop_code
    assert "l0" not in loop_code, loop_code  # the loop reads and writes only the index


def lowered(body: list[Any]) -> Any:
    return lower_function(ModuleInfo.of(wasm.decode(module(body))), 0)


def loop_facts(body: list[Any]) -> tuple[Loop, dict[int, int], tuple[Any, ...]]:
    """The body's first loop, its locals' zero bits throughout it, and the locals' types."""
    func = lowered(body)
    index = next(i for i, node in enumerate(func.body) if type(node) is Loop)
    zeros = local_zeros(func)
    inner = loop_zeros(func.body[index], func.body, index, zeros, func)
    return func.body[index], {**zeros, **inner}, func.locals


def zeros_in(zeros: dict[int, int]) -> Callable[[int], int]:
    return lambda i: zeros.get(i, 0)


def test_the_analysis_takes_the_pointer_and_the_shift_of_most_of_its_accesses() -> None:
    loop, zeros, types = loop_facts(SHAPES["up by 4"][0])
    assert scaled_locals(loop, zeros_in(zeros), types, frozenset()) == {P: 2}
    loop, zeros, types = loop_facts(SHAPES["8-byte items"][0])
    assert scaled_locals(loop, zeros_in(zeros), types, frozenset()) == {P: 3}
    loop, zeros, types = loop_facts(SHAPES["4- and 8-byte items"][0])
    assert scaled_locals(loop, zeros_in(zeros), types, frozenset()) == {P: 2}  # two 4-byte, one 8-byte


def test_the_analysis_looks_only_at_the_locals_the_loop_mentions() -> None:
    """Its work is the loop's: the zero bits of locals the loop never names are not even asked for."""
    loop, zeros, types = loop_facts(SHAPES["up by 4"][0])
    asked: list[int] = []

    def zeros_of(i: int) -> int:
        asked.append(i)
        return zeros.get(i, 0)
    assert scaled_locals(loop, zeros_of, types * 100, frozenset()) == {P: 2}
    assert set(asked) <= {P, N, SUM, TURN} and len(asked) == len(set(asked))  # each once, at most


def test_the_analysis_leaves_excluded_unaligned_and_numeric_locals() -> None:
    loop, zeros, types = loop_facts(SHAPES["up by 4"][0])
    assert scaled_locals(loop, zeros_in(zeros), types, frozenset({P})) == {}  # signed, or an outer loop's
    assert scaled_locals(loop, zeros_in({**zeros, P: 1}), types, frozenset()) == {}  # only 2-byte aligned
    loop, zeros, types = loop_facts(SHAPES["read as a number more than it is an address"][0])
    assert zeros[P] >= 2 and scaled_locals(loop, zeros_in(zeros), types, frozenset()) == {}


def test_an_index_is_written_modulo_the_index_range_and_a_high_step_as_a_subtraction() -> None:
    assert Scaled("p5", 2, 4, 1 << 30).value_index(2) == "(p5 + 1) % 0x40000000"
    assert Scaled("p5", 2, 0xFFFF_FFF8, 1 << 30).value_index(2) == "(p5 - 2) % 0x40000000"
    assert Scaled("l4", 2, 1024).value_index(2) == "(l4 + 256) % 0x40000000"
    assert Scaled("l4", 3, 16).value_index(2) == "((l4 << 1) + 4) % 0x40000000"
    assert Scaled("l4", 2, 2).value_index(2) is None  # not a multiple of the item: no index
    assert Scaled("l4", 2).value_index(3) is None  # fewer zero bits than the item needs
    assert Scaled("p5", 2, 0, 1 << 30).index(2, 8) == "(p5) + 2"  # the access's own offset: no wrap
    assert Scaled("l1", 2, 0xFFFF_FFF8).index(2, 0) == "(l1 - 2) & 0x3fffffff"
