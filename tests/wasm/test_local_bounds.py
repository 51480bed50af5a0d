"""Known bounds of integer locals (``compiler.bounds``): a mask is dropped only where no value can need it.

The analysis is checked on its own (which locals get which bound, and
that counters, parameters and long chains get none), on the code it lets
the compiler write (an interpreter's register index without its mask),
and against the reference interpreter on random programs that put byte
loads, masks, shifts and sums into locals, some of them also assigned
large values, with memory whose bytes take every value.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.wasm.test_loop_alignment import run_everywhere
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import render_python
from wasmpool.wasm.compiler.bounds import MAX_PASSES, local_bounds
from wasmpool.wasm.compiler.lower import ModuleInfo, lower_function
from wasmpool.wasm.opcodes import Opcode as O

IMAGE = bytes((i * 167 + 13) & 0xFF for i in range(8192))  # every byte value, in no simple order
I32 = "i32"


def build(body: list[Any], params: int = 1, locals_: int = 4) -> bytes:
    """``run(p) -> i32``: ``body`` over the parameter and ``locals_`` i32 locals, one memory page of IMAGE."""
    builder = ModuleBuilder()
    builder.memory(1, 1)
    builder.data([(O.I32_CONST, 0)], IMAGE[:4096])
    builder.func(params=[I32] * params, results=[I32], body=body, locals=[I32] * locals_, export="run")
    return builder.build()


def bounds_of(body: list[Any], params: int = 1, locals_: int = 4) -> dict[int, int]:
    module = wasm.decode(build(body, params, locals_))
    return local_bounds(lower_function(ModuleInfo.of(module), 0))


def byte_into(local: int, address: int) -> list[Any]:
    return [(O.I32_CONST, address), (O.I32_LOAD8_U, (0, 0)), (O.LOCAL_SET, local)]


RESULT = [(O.LOCAL_GET, 1)]


def test_a_local_of_byte_loads_is_below_256_and_one_of_halfwords_below_65536() -> None:
    body = [*byte_into(1, 7), (O.I32_CONST, 9), (O.I32_LOAD16_U, (1, 0)), (O.LOCAL_SET, 2), *RESULT]
    assert bounds_of(body) == {1: 256, 2: 65536, 3: 1, 4: 1}  # 3 and 4: never assigned, always zero


def test_masks_shifts_sums_copies_and_tests_bound_a_local() -> None:
    body = [(O.LOCAL_GET, 0), (O.I32_CONST, 0xFF0), O.I32_AND, (O.LOCAL_SET, 1),  # below 0xFF1
            (O.LOCAL_GET, 0), (O.I32_CONST, 28), O.I32_SHR_U, (O.LOCAL_SET, 2),  # below 16
            (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), O.I32_ADD, (O.LOCAL_SET, 3),  # below 0xFF1 + 15
            (O.LOCAL_GET, 0), (O.I32_CONST, 5), O.I32_LT_U, (O.LOCAL_SET, 4),  # 0 or 1
            *byte_into(5, 1), *RESULT]
    assert bounds_of(body, locals_=5) == {1: 0xFF1, 2: 16, 3: 0xFF1 + 15, 4: 2, 5: 256}
    assert bounds_of([*body[:-4], *RESULT], locals_=5) == {}  # no narrow load: not analysed


def test_a_counter_a_parameter_and_a_large_value_have_no_bound() -> None:
    body = [(O.LOOP, None), (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 1),
            (O.I32_CONST, 10), O.I32_LT_U, (O.BR_IF, 0), O.END,  # a counter: grows every turn
            (O.LOCAL_GET, 0), (O.LOCAL_SET, 2),  # the parameter's value
            *byte_into(3, 5), (O.I32_CONST, -1), (O.LOCAL_SET, 3),  # a byte, but also 0xffffffff
            (O.LOCAL_GET, 4), (O.LOCAL_GET, 4), O.I32_MUL, (O.LOCAL_SET, 4), *RESULT]  # 0 * 0: stays 0
    assert bounds_of(body) == {4: 1}


def test_a_sum_that_may_wrap_has_no_bound() -> None:
    body = [(O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_SHR_U, (O.LOCAL_SET, 1),  # below 2**31
            (O.LOCAL_GET, 1), (O.LOCAL_GET, 1), O.I32_ADD, (O.LOCAL_GET, 1), O.I32_ADD, (O.LOCAL_SET, 2),
            *byte_into(3, 0), *RESULT]
    assert bounds_of(body) == {1: 1 << 31, 3: 256, 4: 1}


def test_a_chain_longer_than_the_passes_gives_up_on_the_whole_function() -> None:
    count = MAX_PASSES + 4
    body: list[Any] = []
    for i in range(count, 1, -1):  # each local a copy of the one before, read before that is set:
        body += [(O.LOCAL_GET, i - 1), (O.LOCAL_SET, i)]  # a pass carries a bound one link further
    body += [*byte_into(1, 3), *RESULT]
    assert bounds_of(body, locals_=count) == {}
    short = body[-(2 * 3 + 4):]  # the last three copies alone settle in a few passes
    assert bounds_of(short, locals_=count) == {**dict.fromkeys(range(5, count + 1), 1),
                                               1: 256, 2: 256, 3: 256, 4: 256}


def test_an_interpreters_register_index_needs_no_mask() -> None:
    body = [*byte_into(1, 11), (O.LOCAL_GET, 1), (O.I32_CONST, 2), O.I32_SHL, (O.I32_LOAD, (2, 1120)),
            (O.LOCAL_SET, 2), (O.LOCAL_GET, 2)]
    source = render_python(wasm.decode(build(body)), 0)
    assert re.search(r"w4\[\(?l1\)? \+ 280\]", source) and "0x3fffffff" not in source


def test_a_narrow_store_drops_its_mask_only_for_a_value_that_fits() -> None:
    """A byte or halfword copied is stored as it is; one doubled keeps its mask (it may not fit)."""
    def store(load: O, shift: int, store_op: O, at: int) -> list[Any]:
        value = [(O.LOCAL_GET, 0), (load, (0, 9))] + ([(O.I32_CONST, shift), O.I32_SHL] if shift else [])
        return [(O.LOCAL_GET, 0), *value, (store_op, (0, at))]
    body = [*store(O.I32_LOAD8_U, 0, O.I32_STORE8, 100), *store(O.I32_LOAD8_U, 1, O.I32_STORE8, 101),
            *store(O.I32_LOAD16_U, 0, O.I32_STORE16, 102), *store(O.I32_LOAD16_U, 1, O.I32_STORE16, 104),
            (O.LOCAL_GET, 0), (O.I32_LOAD, (0, 100)), (O.LOCAL_GET, 0), (O.I32_LOAD16_U, (0, 104)), O.I32_ADD]
    data = build(body, locals_=0)
    source = render_python(wasm.decode(data), 0)
    byte_stores = re.findall(r"^\s*m\[.*\] = (.*)$", source, re.M)
    assert len(byte_stores) == 2 and "& 0xff" not in byte_stores[0] and byte_stores[1].endswith("& 0xff")
    halfword_stores = re.findall(r"st_u16\(m, .*\)$", source, re.M)
    assert len(halfword_stores) == 2 and "& 0xffff" not in halfword_stores[0]
    assert halfword_stores[1].endswith("& 0xffff)")
    for p in range(0, 4000, 37):  # bytes and halfwords of every size, doubled past their width or not
        plain, metered, expected = run_everywhere(data, (p,))
        assert plain == metered == expected, p


def random_program(rng: random.Random) -> list[Any]:
    """Locals 1-3 assigned byte and halfword loads, masks, shifts, sums, products and copies, sometimes
    a large value, a whole word or a difference; word loads and stores at ``(local << 2) + constant``;
    local 4 sums what was loaded."""
    def value() -> list[Any]:
        kind, source = rng.randrange(10), rng.randrange(4)
        if kind == 8:  # a whole word: nothing known of it
            return [(O.LOCAL_GET, source), (O.I32_CONST, 4092), O.I32_AND, (O.I32_LOAD, (2, 0))]
        if kind == 9:  # a difference: it wraps below zero
            return [(O.LOCAL_GET, source), (O.LOCAL_GET, rng.randrange(4)), O.I32_SUB]
        if kind == 0:
            return [(O.LOCAL_GET, 0), (O.I32_LOAD8_U, (0, rng.randrange(64)))]
        if kind == 1:
            return [(O.LOCAL_GET, source), (O.I32_CONST, 4094), O.I32_AND, (O.I32_LOAD16_U, (1, 0))]
        if kind == 2:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([1, 255, 1023, 0xFFFF])), O.I32_AND]
        if kind == 3:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([1, 8, 20, 24, 31])), O.I32_SHR_U]
        if kind == 4:
            operation = rng.choice([O.I32_ADD, O.I32_MUL])
            return [(O.LOCAL_GET, source), (O.LOCAL_GET, rng.randrange(4)), operation]
        if kind == 5:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([1, 2, 3])), O.I32_SHL]
        if kind == 6:
            return [(O.I32_CONST, rng.choice([0, 7, 255, 256, 1 << 20, -1, -4096]))]
        return [(O.LOCAL_GET, source)]

    def assign() -> list[Any]:
        return [*value(), (O.LOCAL_SET, rng.randrange(1, 4))]

    def word() -> list[Any]:
        index = [(O.LOCAL_GET, rng.randrange(4)), (O.I32_CONST, 2), O.I32_SHL]
        offset = rng.choice([0, 4, 1120, 2048])
        if rng.randrange(2):
            return [*index, (O.I32_LOAD, (2, offset)), (O.LOCAL_GET, 4), O.I32_ADD, (O.LOCAL_SET, 4)]
        return [*index, (O.LOCAL_GET, 4), (O.I32_STORE, (2, offset))]

    def some(count: int) -> list[Any]:
        parts = (assign, assign, word)
        return [part for _ in range(rng.randrange(count + 1)) for part in rng.choice(parts)()]

    body = some(4)
    body += [(O.BLOCK, None), (O.LOCAL_GET, 4), (O.I32_CONST, 1), O.I32_AND, (O.BR_IF, 0), *some(2), O.END]
    body += [(O.I32_CONST, 0), (O.LOCAL_SET, 5), (O.LOOP, None), *some(4),  # three turns (local 5 counts)
             (O.LOCAL_GET, 5), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 5), (O.I32_CONST, 3), O.I32_LT_U,
             (O.BR_IF, 0), O.END]
    stored = [(O.I32_CONST, 4), (O.LOCAL_GET, 4), (O.I32_STORE, (2, 0))]  # what was loaded, kept
    # the result adds the locals alone: an unmasked sum of values wrongly thought small would show
    return [*body, *some(3), *stored, (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), O.I32_ADD, (O.LOCAL_GET, 3),
            O.I32_ADD]


@pytest.mark.parametrize("first", range(0, 400, 50))
def test_random_programs_agree_with_the_reference(first: int) -> None:
    checked = 0
    for seed in range(first, first + 50):
        rng = random.Random(seed)
        data = build(random_program(rng), locals_=5)
        module = wasm.decode(data)
        checked += bool(local_bounds(lower_function(ModuleInfo.of(module), 0)))
        for p in (0, 1, 255, 4000, rng.randrange(1 << 32)):
            plain, metered, expected = run_everywhere(data, (p,))
            assert plain == metered == expected, (seed, p)
    assert checked >= 10  # the programs exercise the analysis, not only its empty case


def test_a_register_reused_by_an_instruction_without_a_rule_is_unknown_again() -> None:
    """Register 0 holds a byte, then a difference, then a word: each local gets what it was given."""
    body = [*byte_into(1, 3),
            (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.I32_SUB, (O.LOCAL_SET, 1),
            (O.LOCAL_GET, 0), (O.I32_LOAD, (2, 0)), (O.LOCAL_SET, 2), (O.LOCAL_GET, 1)]
    assert bounds_of(body) == {3: 1, 4: 1}
    data = build([*body[:-1], (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), O.I32_ADD])
    for p in (0, 1, 8, 4092):
        plain, metered, expected = run_everywhere(data, (p,))
        assert plain == metered == expected, p
