"""Inside a loop, a local's alignment is what it holds on entry and what the loop assigns it.

Compilers reuse locals: a parameter, or a counter, later serves as an
aligned pointer. Over the whole function such a local has no known zero
bits; inside the loop that steps it, it has (``align.loop_zeros``), and the
loop's accesses index the typed views without testing the address. Every
shape here runs on the compiled code (plain and metered) and on the
reference interpreter, over memory whose every byte differs, at aligned
and unaligned addresses: an address wrongly believed aligned would read
the aligned word around it. The shapes where the entry value is not
known (a construct between the assignment and the loop), where the loop
or the code after it assigns an unaligned value, keep the test. Last, 400
random programs of constants, sums, shifts, masks and copies of two
locals around a block and a loop, loading at them, agree with the
reference interpreter (two deliberately wrong refinements each fail some).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm import reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import render_python
from wasmpool.wasm.compiler.align import MAX_LOOP_NESTING, MAX_PASSES, local_zeros, loop_zeros
from wasmpool.wasm.compiler.ir import Loop
from wasmpool.wasm.compiler.lower import ModuleInfo, lower_function
from wasmpool.wasm.opcodes import Opcode as O

IMAGE = bytes((i * 7 + 3) & 0xFF for i in range(4096))  # no two neighbouring words alike
GAS = 10**9

LOAD = [(O.LOCAL_GET, 0), (O.I32_LOAD, (2, 0)), (O.LOCAL_GET, 1), O.I32_ADD, (O.LOCAL_SET, 1)]  # sum += [p]


def step(by: int) -> list[Any]:
    return [(O.LOCAL_GET, 0), (O.I32_CONST, by), O.I32_ADD, (O.LOCAL_SET, 0)]


def loop(by: int, count: int = 8) -> list[Any]:
    """``count`` turns: sum += load(p); p += by (local 2 counts the turns)."""
    return [(O.I32_CONST, 0), (O.LOCAL_SET, 2),
            (O.LOOP, None), *LOAD, *step(by),
            (O.LOCAL_GET, 2), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 2), (O.I32_CONST, count),
            O.I32_LT_U, (O.BR_IF, 0), O.END]


def module(body: list[Any]) -> bytes:
    """``run(p, k) -> i32``: ``body`` over p (local 0, the parameter reused), k (local 1), a counter."""
    builder = ModuleBuilder()
    builder.memory(1, 1)
    builder.data([(O.I32_CONST, 0)], IMAGE)
    builder.func(params=["i32", "i32"], results=["i32"], body=[*body, (O.LOCAL_GET, 1)],
                 locals=["i32"], export="run")
    return builder.build()


ALIGNED = [(O.I32_CONST, 1024), (O.LOCAL_SET, 0)]
SET_P = [(O.LOCAL_GET, 2), (O.I32_CONST, 3), O.I32_SHL, (O.I32_CONST, 1024), O.I32_ADD, (O.LOCAL_SET, 0)]
NEXT_TURN = [(O.LOCAL_GET, 2), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 2), (O.I32_CONST, 6), O.I32_LT_U,
             (O.BR_IF, 0)]
TURNS = [(O.I32_CONST, 0), (O.LOCAL_SET, 2), (O.LOOP, None)]
AFRESH = [*TURNS, *SET_P, *LOAD, *NEXT_TURN, O.END]  # p = 1024 + 8i, then read
READ_FIRST = [*TURNS, *LOAD, *SET_P, *NEXT_TURN, O.END]
READ_IN_A_BLOCK_FIRST = [*TURNS, (O.BLOCK, None), *LOAD, O.END, *SET_P, *LOAD, *NEXT_TURN, O.END]
IN_A_BLOCK = [*TURNS, (O.BLOCK, None), (O.LOCAL_GET, 1), (O.BR_IF, 0), *SET_P, O.END, *LOAD, *NEXT_TURN,
              O.END]  # the block may skip the assignment
SHAPES = {  # name: (body, whether the loop's load is known aligned)
    "parameter reused as a pointer": ([*ALIGNED, *loop(8)], True),
    "pointer from another local": ([(O.I32_CONST, 64), (O.LOCAL_SET, 1), (O.LOCAL_GET, 1),
                                    (O.I32_CONST, 2), O.I32_SHL, (O.LOCAL_SET, 0), (O.I32_CONST, 0),
                                    (O.LOCAL_SET, 1), *loop(4)], True),
    "the loop steps by 2": ([*ALIGNED, *loop(2)], False),
    "entered unaligned": ([(O.I32_CONST, 1026), (O.LOCAL_SET, 0), *loop(4)], False),
    "the parameter as it came": (loop(4), False),
    "a block between may change it": ([*ALIGNED, (O.BLOCK, None), (O.LOCAL_GET, 1), (O.BR_IF, 0),
                                       (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_SET, 0), O.END,
                                       *loop(4)], False),
    "unaligned after the loop": ([*ALIGNED, *loop(4), (O.LOCAL_GET, 0), (O.I32_CONST, 2), O.I32_ADD,
                                  (O.LOCAL_SET, 0), *LOAD], True),
    "set afresh each turn, entered unaligned": ([(O.I32_CONST, 1026), (O.LOCAL_SET, 0), *AFRESH], True),
    "read before it is set afresh": ([(O.I32_CONST, 1026), (O.LOCAL_SET, 0), *READ_FIRST], False),
    "read in a block before it is set afresh": (
        [(O.I32_CONST, 1026), (O.LOCAL_SET, 0), *READ_IN_A_BLOCK_FIRST], False),
    "set afresh inside a block": ([(O.I32_CONST, 1026), (O.LOCAL_SET, 0), *IN_A_BLOCK], False),
    "nested loops": ([*ALIGNED, (O.I32_CONST, 0), (O.LOCAL_SET, 1),
                      (O.LOOP, None), *loop(8, 3), *step(-16), (O.LOCAL_GET, 0), (O.I32_CONST, 1200),
                      O.I32_LT_U, (O.BR_IF, 0), O.END], True),
}


def run_everywhere(data: bytes, args: tuple[int, ...], memory: str | None = None) -> list[Any]:
    """``run(*args)`` on the compiled code, plain and metered, and on the reference interpreter.

    Each outcome is the results' bit patterns or the trap's class name; with ``memory`` (an
    exported memory's name), paired with that memory's bytes after the call.
    """
    parsed = wasm.decode(data)
    outcomes: list[Any] = []
    for instance in (wasm.instantiate(wasm.compile(parsed, metered=False)),
                     wasm.instantiate(wasm.compile(parsed, metered=True), gas_limit=GAS),
                     reference.instantiate(parsed)):
        try:
            outcome: Any = instance.exports["run"].call_raw(args)  # bit patterns in and out
        except wasm.Trap as trap:
            outcome = type(trap).__name__
        outcomes.append(outcome if memory is None else (outcome, bytes(instance.exports[memory].data)))
    return outcomes


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("p", [0, 1, 2, 3, 4, 5, 8, 4093, 0xFFFFFFFC])
def test_every_shape_reads_the_same_bytes_as_the_reference(name: str, p: int) -> None:
    body, _ = SHAPES[name]
    plain, metered, expected = run_everywhere(module(body), (p, 0))
    assert plain == metered == expected, name


@pytest.mark.parametrize("name", SHAPES)
def test_a_loop_load_is_untested_exactly_when_its_pointer_is_known_aligned(name: str) -> None:
    body, aligned = SHAPES[name]
    source = render_python(wasm.decode(module(body)), 0)
    loop_code = source[source.index("while True:"):]
    first_load = next(line for line in loop_code.splitlines() if "w4[" in line)
    tested = "ld_u32" in first_load
    assert tested is not aligned, first_load
    if name == "unaligned after the loop":
        after = source[source.rindex("l0 = "):]
        assert "ld_u32" in after  # the local's value made inside the loop is not reused after it


def lowered(body: list[Any]) -> Any:
    parsed = wasm.decode(module(body))
    return lower_function(ModuleInfo.of(parsed), 0)


def test_the_refinement_starts_from_the_run_before_the_loop() -> None:
    func = lowered(SHAPES["parameter reused as a pointer"][0])
    assert 0 not in local_zeros(func)  # the parameter: nothing known over the function
    at = next(i for i, node in enumerate(func.body) if type(node) is Loop)
    assert loop_zeros(func.body[at], func.body, at, local_zeros(func), func)[0] == 3
    assert loop_zeros(func.body[at], func.body, 0, local_zeros(func), func).get(0, 0) == 0  # no run before


def test_a_loops_refinement_names_only_the_locals_its_run_and_body_mention() -> None:
    """Its work is the loop's, not the function's: 1,000 more locals change nothing of it."""
    many = ModuleBuilder()
    many.memory(1, 1)
    many.func(params=["i32", "i32"], results=["i32"], body=[*ALIGNED, *loop(8), (O.LOCAL_GET, 1)],
              locals=["i32"] * 1001, export="run")
    func = lower_function(ModuleInfo.of(wasm.decode(many.build())), 0)
    at = next(i for i, node in enumerate(func.body) if type(node) is Loop)
    assert loop_zeros(func.body[at], func.body, at, local_zeros(func), func) == {0: 3, 1: 0, 2: 0}


def test_loops_nested_past_the_cap_keep_their_enclosing_loops_facts() -> None:
    depth = MAX_LOOP_NESTING + 2
    inner = loop(8, 2)
    for _ in range(depth - 1):
        inner = [(O.I32_CONST, 1024), (O.LOCAL_SET, 0), (O.BLOCK, None), *inner, O.END]
        inner = [(O.LOOP, None), *inner, O.END]
    body = [*ALIGNED, *inner]
    plain, metered, expected = run_everywhere(module(body), (1, 0))
    assert plain == metered == expected
    source = render_python(wasm.decode(module(body)), 0)
    assert "ld_u32" not in source  # the innermost loop still knows its pointer: from the loops around it


# ---------------------------------------------------------------- random pointer programs


def random_program(rng: random.Random) -> list[Any]:
    """Locals 0 and 1 assigned constants, sums, shifts, masks and copies around a loop and a block,
    with 4- and 8-byte loads at them (masked into the image) summed into local 3; local 2 counts turns."""
    def expr() -> list[Any]:
        kind, source = rng.randrange(5), rng.randrange(2)
        if kind == 0:
            return [(O.I32_CONST, rng.choice([0, 1, 2, 3, 4, 8, 16, 1024, 1026, 4096, rng.randrange(5000)]))]
        if kind == 1:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([1, 2, 3, 4, 8, 16, -4, -8])), O.I32_ADD]
        if kind == 2:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([1, 2, 3])), O.I32_SHL]
        if kind == 3:
            return [(O.LOCAL_GET, source), (O.I32_CONST, rng.choice([-2, -4, -8, 4092, 4095])), O.I32_AND]
        return [(O.LOCAL_GET, source)]

    def assign() -> list[Any]:
        return [*expr(), (O.LOCAL_SET, rng.randrange(2))]

    def load() -> list[Any]:
        address = [(O.LOCAL_GET, rng.randrange(2)), (O.I32_CONST, 4095), O.I32_AND]  # keeps its zero bits
        value = [(O.I64_LOAD, (3, 0)), O.I32_WRAP_I64] if rng.randrange(2) else [(O.I32_LOAD, (2, 0))]
        return [*address, *value, (O.LOCAL_GET, 3), O.I32_ADD, (O.LOCAL_SET, 3)]

    def some(count: int) -> list[Any]:
        return [part for _ in range(rng.randrange(count + 1)) for part in rng.choice((assign, load))()]

    body = some(3)
    if rng.randrange(3) == 0:  # a construct between the run and the loop that may assign
        body += [(O.BLOCK, None), (O.LOCAL_GET, 3), (O.I32_CONST, 1), O.I32_AND, (O.BR_IF, 0), *assign(),
                 O.END]
    body += some(2)
    body += [(O.I32_CONST, 0), (O.LOCAL_SET, 2), (O.LOOP, None), *some(3), *load(),
             (O.LOCAL_GET, 2), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 2), (O.I32_CONST, 3), O.I32_LT_U,
             (O.BR_IF, 0), O.END]
    return [*body, *some(2), *load(), (O.LOCAL_GET, 3)]


@pytest.mark.parametrize("first", range(0, 400, 50))
def test_random_pointer_programs_agree_with_the_reference(first: int) -> None:
    for seed in range(first, first + 50):
        rng = random.Random(seed)
        builder = ModuleBuilder()
        builder.memory(1, 1)
        builder.data([(O.I32_CONST, 0)], IMAGE)
        builder.func(params=["i32"], results=["i32"], body=random_program(rng), locals=["i32"] * 3,
                     export="run")
        data = builder.build()
        for p in (0, 1, 4, 6, 1024, rng.randrange(1 << 32)):
            plain, metered, expected = run_everywhere(data, (p,))
            assert plain == metered == expected, (seed, p)


def test_a_chain_of_copies_past_the_pass_limit_gives_up_every_local() -> None:
    """Each local set from the next one, read before that is set: the fixed point lowers one link per
    pass. Past ``align.MAX_PASSES`` links it is given up, so an aligned local elsewhere loses its bits
    too (nothing is known rather than the work growing with the square of the chain)."""
    def func(links: int) -> Any:
        body: list[Any] = [(O.I32_CONST, 1024), (O.LOCAL_SET, 1)]  # local 1: aligned, apart from the chain
        for k in range(links + 2, 2, -1):
            body += [(O.LOCAL_GET, k - 1), (O.LOCAL_SET, k)]
        body += [(O.LOCAL_GET, 0), (O.LOCAL_SET, 2), (O.LOCAL_GET, 1), (O.I32_LOAD, (2, 0))]
        builder = ModuleBuilder()
        builder.memory(1, 1)
        builder.func(params=["i32"], results=["i32"], body=body, locals=["i32"] * (links + 2), export="run")
        return lower_function(ModuleInfo.of(wasm.decode(builder.build())), 0)

    assert local_zeros(func(4))[1] == 3  # a short chain settles: local 1 keeps its 8-byte alignment
    assert local_zeros(func(MAX_PASSES + 2)).get(1, 0) == 0
