"""Compile work stays linear in the module's size, for the shapes that once made it quadratic.

No timing here (``bench/engine/compile_growth.py`` measures time and memory):
these tests check sizes and counts that grew quadratically before, and that
what cannot be compiled cheaply is refused with a :class:`LimitError`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest

import wasmpool.wasm as wasm
from bench.engine import compile_growth as shapes
from wasmpool.wasm import compiler
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.compiler.exprs import X
from wasmpool.wasm.compiler.fold import Folder
from wasmpool.wasm.compiler.ir import Block, If, Loop, Node, Switch
from wasmpool.wasm.compiler.structure import MAX_INDENT, rewrite_switches, thread_returns
from wasmpool.wasm.opcodes import Opcode as O

VARIANTS = [pytest.param(None, id="unmetered"), pytest.param(10**9, id="metered")]


def _instance(builder: ModuleBuilder, gas_limit: int | None) -> wasm.Instance:
    return wasm.instantiate(wasm.decode(builder.build()), {}, gas_limit=gas_limit)


def _source_size(data: bytes, variants: tuple[bool, ...] = (False, True)) -> int:
    module = wasm.decode(data)
    first = module.num_imported_funcs
    return sum(len(compiler.function_source(module, first + i, metered)[0])
               for i in range(len(module.funcs)) for metered in variants)


# ---------------------------------------------------------------- br_table carrying values


def _carrying_table(values: int, entries: int) -> tuple[ModuleBuilder, list[Instruction]]:
    """Three nested blocks at bases 0, 1, 2 carrying ``values`` values; a table cycling over them."""
    builder = ModuleBuilder()
    carry = builder.type([], ["i32"] * values)
    body: list[Instruction] = [(O.BLOCK, carry), (O.I32_CONST, 1000), (O.BLOCK, carry), (O.I32_CONST, 2000),
                               (O.BLOCK, carry)]
    body += [(O.LOCAL_GET, 0)] * values
    body += [(O.LOCAL_GET, 0), (O.BR_TABLE, (tuple(i % 3 for i in range(entries)), 1))]
    body += [O.END, O.I32_ADD, O.RETURN]  # case 0: the top value plus the one below (2000 for 1 value)
    body += [O.END, O.I32_ADD, O.RETURN]  # case 1: plus 1000
    body += [O.END]  # case 2: the values themselves
    body += [O.I32_ADD] * (values - 1)
    return builder, body


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_br_table_carries_values_to_repeated_targets(gas_limit: int | None) -> None:
    builder, body = _carrying_table(1, 30)
    builder.func(["i32"], ["i32"], body, export="f")
    f = _instance(builder, gas_limit).exports["f"]
    assert [f(i) for i in (0, 1, 2, 3, 4, 5, 29, 30, 99)] == [2000, 1001, 2, 2003, 1004, 5, 29, 1030, 1099]


def _table_values_shape(n: int) -> bytes:
    builder, body = _carrying_table(n, 8 * n)
    builder.func(["i32"], ["i32"], body, export="f")
    return builder.build()


def test_br_table_moves_are_emitted_once_per_target() -> None:
    """The moves of a table over few targets carrying many values grew as entries x values."""
    small, large = _source_size(_table_values_shape(20)), _source_size(_table_values_shape(80))
    assert large < 5 * small


# ---------------------------------------------------------------- every shape of the growth benchmark


LINEAR_SHAPES = [name for name in shapes.SHAPES if name != "br_table_values"]  # that one is refused
PAST_STRUCTURED = {  # sizes that nest deeper than structured code may (MAX_INDENT levels)
    **dict.fromkeys(["nested_ifs", "nested_if_else", "nested_blocks_br_table", "nested_blocks_table",
                     "nested_blocks_br", "nested_loops", "nested_pointer_loops"], MAX_INDENT + 8),
    "if_else_chain": (MAX_INDENT + 8) // 16,  # 16 ifs per unit
}


@pytest.mark.parametrize("name", LINEAR_SHAPES)
def test_generated_source_grows_linearly(name: str) -> None:
    """4x the shape, at most 5x the Python source (unmetered), at sizes cheap to emit.

    Nesting shapes start past the depth where structured code gives way to
    state machines (whose indentation no longer grows), so that both sizes
    compare the same form.
    """
    shape, base = shapes.SHAPES[name]
    small = PAST_STRUCTURED.get(name, max(1, base // 16))
    assert _source_size(shape(4 * small), (False,)) < 5 * _source_size(shape(small), (False,))


# ---------------------------------------------------------------- return threading


def _count(nodes: list[Node]) -> int:
    total = 0
    for node in nodes:
        total += 1
        if isinstance(node, Block | Loop):
            total += _count(node.body)
        elif isinstance(node, If):
            total += _count(node.then) + _count(node.orelse)
        elif isinstance(node, Switch):
            total += sum(_count(case) for case in node.cases)
    return total


def _threaded_size(data: bytes) -> int:
    module = wasm.decode(data)
    func = compiler.lower(module, module.num_imported_funcs)
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(saved + 10 * compiler.nesting_depth(func))  # as the compiler does
    try:
        rewrite_switches(func.body)
        thread_returns(func.body)
        return _count(func.body)
    finally:
        sys.setrecursionlimit(saved)


@pytest.mark.parametrize(("shape", "n"), [(shapes.nested_ifs, 50), (shapes.if_else_chain, 4),
                                         (shapes.nested_if_else, 50), (shapes.nested_blocks_table, 50)],
                         ids=["nested_ifs", "else_if", "if_else", "blocks_table"])
def test_return_threading_output_is_linear(shape: Callable[[int], bytes], n: int) -> None:
    """Nested constructs each added a gas block to the return tail copied into every branch."""
    small, large = _threaded_size(shape(n)), _threaded_size(shape(4 * n))
    assert large < 5 * small


# ---------------------------------------------------------------- folding bookkeeping


class _CountingReads(frozenset[str]):
    """A reads set that counts how often it is asked whether it holds a name."""

    asked = 0

    def __contains__(self, name: object) -> bool:
        _CountingReads.asked += 1
        return super().__contains__(name)


@pytest.fixture()
def counting() -> Iterator[type[_CountingReads]]:
    _CountingReads.asked = 0
    yield _CountingReads


def test_flushing_what_reads_a_name_skips_the_others(counting: type[_CountingReads]) -> None:
    """``flush_reading`` looked at every pending expression, for each assignment."""
    folder = Folder()
    for i in range(300):
        folder.define(f"s{i}", X(f"l{i} + 1", False, reads=counting((f"l{i}",))))
    for i in range(300, 600):
        folder.flush_reading(f"l{i}")
    assert counting.asked == 0
    assert folder.out == []
    folder.flush_reading("l7")
    assert folder.out == [(2, "s7 = l7 + 1")]
    assert len(folder.pending) == 299


def test_flush_impure_keeps_order_and_stops_before_its_bound() -> None:
    folder = Folder()
    folder.define("s0", X("f(d - 1)", impure=True))
    folder.define("s1", X("l0 + 1", False, reads=frozenset(("l0",))))
    folder.define("s2", X("m[l1]", impure=True, reads=frozenset(("l1",))))
    folder.define("s3", X("g(d - 1, l1)", impure=True, reads=frozenset(("l1",))))
    folder.flush_reading("l1")
    assert folder.out == [(2, "s0 = f(d - 1)"), (2, "s2 = m[l1]"), (2, "s3 = g(d - 1, l1)")]
    assert list(folder.pending) == ["s1"]


def _empty_ifs(n: int) -> bytes:
    builder = ModuleBuilder()
    builder.func(["i32"], [], [(O.LOCAL_GET, 0), (O.IF, None)] * n + [O.END] * n)
    return builder.build()


def test_ten_thousand_nested_ifs_are_shaped_linearly() -> None:
    """Lowering and return threading of 10,000 nested ``if``s (this ran out of memory)."""
    assert _threaded_size(_empty_ifs(10_000)) < 5 * 10_000


# ---------------------------------------------------------------- values carried


def test_a_table_carrying_many_values_to_many_targets_is_refused() -> None:
    """``k`` targets carrying ``v`` values are ``k * v`` moves from ``k + v`` bytes."""
    data = shapes.br_table_values(200)
    with pytest.raises(wasm.LimitError) as caught:
        wasm.decode(data)
    assert caught.value.limit == "carried_values"
    assert "carried_values" in str(caught.value)
    module = wasm.decode(data, wasm.DecodeLimits(carried_values=caught.value.value))
    assert len(module.funcs) == 1


def test_calls_passing_many_values_are_refused() -> None:
    builder = ModuleBuilder()
    wide = ["i32"] * 20
    callee = builder.func(wide, wide, [(O.LOCAL_GET, i) for i in range(20)])
    builder.func(wide, wide, [(O.LOCAL_GET, i) for i in range(20)] + [(O.CALL, callee)] * 50, export="f")
    with pytest.raises(wasm.LimitError, match="carried_values"):
        wasm.decode(builder.build())


def test_ordinary_calls_and_branches_pass_the_limit() -> None:
    """Four values in and out of each call in a chain is what the default allows (see the benchmark)."""
    module = wasm.decode(shapes.multi_value_calls(1))
    f = wasm.instantiate(module, {}).exports["f"]
    assert f(1, 2, 3, 4) == (1, 2, 3, 4)
