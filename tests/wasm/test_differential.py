"""Differential tests: the compiled engine, unmetered and metered, against the reference interpreter.

The engine passes the spec suite, yet its expression folding and control-flow
structuring once computed wrong results on real programs (an
``i64.extend_i32_u`` pasted without parentheses; a ``br_table`` switch that
overwrote its index local; an operand written to a register another operand
still read). The spec suite's small functions rarely compose instructions the
way compilers do, so here generated programs (:mod:`tests.wasm.gen`) run on
three paths and must agree exactly: the same results bit for bit, or the same
trap kind, and after every call the same memory and globals.

NaNs are compared bit for bit too, sign and payload. The spec lets NaN results
of arithmetic vary, but this engine documents deterministic ones
(:mod:`wasmpool.wasm.numeric_float`: the IEEE double operation's NaN, a NaN
operand's payload kept and quieted, the canonical NaN for invalid operations,
sign operations as pure bit work), and the reference computes float
arithmetic through those same definitions on the same hardware, so any NaN
difference is a real bug (an operation folded differently, a NaN quieted by a
width change, a lost sign). Comparing against another engine, whose NaN
payloads may legitimately differ, is ``bench/differential.py``'s job.

Each test draws a seed and a size with hypothesis (derandomized, no example
database, so every run tests the same programs); a failure prints the
mismatches and how to rebuild the module.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmpool.wasm as wasm
from tests.wasm.gen.compare import compare
from tests.wasm.gen.functions import GROWN_PAGES, NUMERIC_OPS
from tests.wasm.gen.modules import PROFILES, GeneratedModule, generate_module, generate_op_module
from wasmpool.wasm.compiler import lower, render_python
from wasmpool.wasm.compiler.emit import prepare
from wasmpool.wasm.compiler.signed import signed_locals
from wasmpool.wasm.opcodes import Opcode as O


def reproducible(examples: int) -> settings:
    """The same ``examples`` programs on every run (derandomized, no database), no deadline."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _check(generated: GeneratedModule, rebuild: str) -> None:
    mismatches = compare(generated)
    assert not mismatches, f"{len(mismatches)} mismatches; rebuild with {rebuild}\n" + "\n".join(
        str(m) for m in mismatches[:10])


@reproducible(100)
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 6))
def test_control_flow_agrees_with_the_reference(seed: int, functions: int) -> None:
    """Nested blocks, loops and ifs; branches and switches at random depths; calls; memory."""
    _check(generate_module(seed, "control", functions),
           f"generate_module({seed}, 'control', {functions})")


@reproducible(120)
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 6))
def test_expressions_agree_with_the_reference(seed: int, functions: int) -> None:
    """Numeric expression trees, mixed with every other form of expression."""
    _check(generate_module(seed, "expressions", functions),
           f"generate_module({seed}, 'expressions', {functions})")


@reproducible(60)
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 6),
       profile=st.sampled_from(["expressions-grow", "control-grow"]))
def test_growing_memory_agrees_with_the_reference(seed: int, functions: int, profile: str) -> None:
    """``memory.grow`` (granted or not) and ``memory.size``; accesses in grown pages and past the end,
    after calls to functions that grow memory (directly, chained, through the table)."""
    _check(generate_module(seed, profile, functions), f"generate_module({seed}, {profile!r}, {functions})")


@reproducible(150)
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 6),
       profile=st.sampled_from(["expressions-words", "control-words", "control-nans-words"]))
def test_word_locals_agree_with_the_reference(seed: int, functions: int, profile: str) -> None:
    """Words loaded, copied, compared signed and stored (the compiler's signed locals), sometimes used
    as any other value."""
    _check(generate_module(seed, profile, functions), f"generate_module({seed}, {profile!r}, {functions})")


@reproducible(150)
@given(seed=st.integers(0, 2**64 - 1), functions=st.integers(1, 6),
       profile=st.sampled_from(["expressions-pointers", "control-pointers", "control-nans-pointers"]))
def test_pointer_locals_agree_with_the_reference(seed: int, functions: int, profile: str) -> None:
    """Aligned pointers stepped up and down through memory in loops, past 2**32 and below 0, loaded and
    stored through with every offset (the compiler's scaled locals), sometimes read as numbers."""
    _check(generate_module(seed, profile, functions), f"generate_module({seed}, {profile!r}, {functions})")


@pytest.mark.parametrize("seed", range(4))
def test_every_numeric_instruction_in_every_position(seed: int) -> None:
    """Each numeric instruction at the root of a random tree and as an operand of a random parent."""
    _check(generate_op_module(seed, [info.op for info in NUMERIC_OPS]),
           f"generate_op_module({seed}, NUMERIC_OPS)")


def test_the_generator_reaches_every_numeric_instruction_and_control_form() -> None:
    """The random expression profile alone, over a few modules, writes every instruction the tests rely on."""
    seen: set[O] = set()
    for seed in range(40):
        module = wasm.decode(generate_module(seed, "expressions", 6).wasm)
        seen.update(ins.op for func in module.funcs for ins in func.body)
    wanted = {info.op for info in NUMERIC_OPS} | {
        O.BR_TABLE, O.BR_IF, O.BR, O.RETURN, O.SELECT,
        O.SELECT_T, O.LOCAL_TEE, O.GLOBAL_SET, O.CALL,
        O.CALL_INDIRECT, O.LOOP, O.IF, O.I64_LOAD32_S,
        O.F32_STORE,
    }
    assert not wanted - seen, sorted(op.name for op in wanted - seen)


def test_the_growing_profiles_grow_memory_and_reach_the_new_pages() -> None:
    """The growing profiles write grows and sizes, calls that may grow followed by memory accesses, and
    accesses past the first page; their memory has room to grow, and the other profiles never grow it."""
    seen: set[O] = set()
    high = after_call = 0
    for seed in range(20):
        module = wasm.decode(generate_module(seed, "control-grow", 6).wasm)
        assert module.mems[0].limits.max == GROWN_PAGES
        growers = {i for i, func in enumerate(module.funcs) if O.MEMORY_GROW in {ins.op for ins in func.body}}
        for func in module.funcs:
            body = func.body
            seen.update(ins.op for ins in body)
            high += sum(1 for ins in body if ins.op is O.I32_CONST and isinstance(ins.imm, int)
                        and ins.imm > 65536)
            after_call += sum(1 for a, b in pairwise(body)
                              if a.op is O.CALL and a.imm in growers and b.op in (O.DROP, O.I32_CONST))
    assert {O.MEMORY_GROW, O.MEMORY_SIZE, O.CALL_INDIRECT} <= seen
    assert high and after_call, (high, after_call)
    for seed in range(10):
        module = wasm.decode(generate_module(seed, "control", 6).wasm)
        assert not any(ins.op in (O.MEMORY_GROW, O.MEMORY_SIZE) for f in module.funcs for ins in f.body)


def test_the_word_profiles_make_signed_locals_and_the_others_no_words() -> None:
    """The word profiles write functions whose words the compiler holds signed, and others where a word
    used as a number rules them out; the other profiles draw no word forms (their programs stay as they
    were)."""
    kept = ruled_out = 0
    for seed in range(30):
        module = wasm.decode(generate_module(seed, "control-words", 4).wasm)
        for index in range(len(module.funcs)):
            func = lower(module, module.num_imported_funcs + index)
            prepare(func)
            signed = signed_locals(func)
            kept += bool(signed)
            declared = len(func.locals) - func.nparams
            ruled_out += bool(declared and not signed and O.I32_LT_S in func.accesses)
    assert kept >= 10 and ruled_out >= 3, (kept, ruled_out)
    for name in ("expressions", "control", "nans", "control-nans", "control-grow"):
        forms = {*PROFILES[name].stmt_forms, *PROFILES[name].expr_forms}
        assert not any(form.startswith("word_") for form in forms), name


def test_the_pointer_profiles_make_scaled_loops_and_the_others_no_pointers() -> None:
    """The pointer profiles write loops that hold a pointer as its view's index, and others where it
    is read as a number too often or not known aligned; the other profiles draw no pointer forms."""
    scaled = plain = 0
    for seed in range(20):
        module = wasm.decode(generate_module(seed, "control-pointers", 4).wasm)
        for index in range(len(module.funcs)):
            source = render_python(module, module.num_imported_funcs + index)
            held = re.findall(r"^ *(p\d+) = l\d+ >> [23]$", source, re.MULTILINE)
            scaled += bool(held)
            plain += not held and "while True:" in source
    assert scaled >= 10 and plain >= 5, (scaled, plain)
    for name in ("expressions", "control", "nans", "control-nans", "control-grow", "control-words"):
        forms = {*PROFILES[name].stmt_forms, *PROFILES[name].expr_forms}
        assert not any(form.startswith("pointer_") for form in forms), name
