"""Calls that cannot grow memory keep the caller's views; calls that may grow bind them again.

Compiled code holds typed views of memory in locals and binds them again
after a call only when the callee may grow memory (``compiler.growth``). The
first tests run a caller that holds views across a call that grows memory --
a defined function that grows, one that grows through a chain of calls,
through ``call_indirect``, through an import (a host function holding the
memory, another instance's function sharing it) -- and then reads what the
callee wrote beyond the old size and writes and reads there itself, with
aligned 32- and 64-bit accesses, in every compiled variant. A wrong "cannot
grow" leaves the caller with released views: the accesses fail. The last
tests check the analysis itself and that the source binds no views after a
call that cannot grow.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder, limits, name
from wasmpool.wasm.compiler import DEFAULT_MAX_REGISTERS, render_python
from wasmpool.wasm.compiler.growth import steady_functions
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import PAGE_SIZE, ExternKind

VARIANTS = [
    pytest.param(None, False, id="unmetered-plain"),
    pytest.param(None, True, id="unmetered-canonical"),
    pytest.param(10**9, False, id="metered-plain"),
    pytest.param(10**9, True, id="metered-canonical"),
]
NEW = PAGE_SIZE  # the first address of the page the callee adds
I32_BITS, I64_BITS, F64_VALUE = 0x11223344, 0x0102030405060708, -2.5  # what the callee writes at NEW...
MINE = (0x55667788, 0x7FEEDDCCBBAA9988, 1.25)  # what the caller writes after the call


def _bits(value: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


def _callee_writes() -> list[Any]:
    """Store the callee's three values at NEW, NEW + 8 and NEW + 16 (i32, i64, f64)."""
    return [(O.I32_CONST, NEW), (O.I32_CONST, I32_BITS), (O.I32_STORE, (2, 0)),
            (O.I32_CONST, NEW + 8), (O.I64_CONST, I64_BITS), (O.I64_STORE, (3, 0)),
            (O.I32_CONST, NEW + 16), (O.F64_CONST, _bits(F64_VALUE)), (O.F64_STORE, (3, 0))]


def _grower_body() -> list[Any]:
    """Grow memory by one page, then write the callee's values in it."""
    return [(O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP, *_callee_writes()]


RESULTS = ["i32", "i64", "f64", "i32", "i64", "f64"]  # run's: the callee's values, then the caller's


def _caller_body(call: list[Any]) -> list[Any]:
    """Touch every view, run ``call``, then read the callee's values and write and read the caller's."""
    i32, i64, f64 = MINE
    return [
        (O.I32_CONST, 0), (O.I32_LOAD, (2, 0)), O.DROP,
        (O.I32_CONST, 0), (O.I64_LOAD, (3, 0)), O.DROP,
        (O.I32_CONST, 0), (O.F64_LOAD, (3, 0)), O.DROP,
        *call,
        (O.I32_CONST, NEW + 24), (O.I32_CONST, i32), (O.I32_STORE, (2, 0)),
        (O.I32_CONST, NEW + 32), (O.I64_CONST, i64), (O.I64_STORE, (3, 0)),
        (O.I32_CONST, NEW + 40), (O.F64_CONST, _bits(f64)), (O.F64_STORE, (3, 0)),
        (O.I32_CONST, NEW), (O.I32_LOAD, (2, 0)),
        (O.I32_CONST, NEW + 8), (O.I64_LOAD, (3, 0)),
        (O.I32_CONST, NEW + 16), (O.F64_LOAD, (3, 0)),
        (O.I32_CONST, NEW + 24), (O.I32_LOAD, (2, 0)),
        (O.I32_CONST, NEW + 32), (O.I64_LOAD, (3, 0)),
        (O.I32_CONST, NEW + 40), (O.F64_LOAD, (3, 0)),
    ]


def _caller(builder: ModuleBuilder, call: list[Any], loop: bool = False) -> int:
    """Define ``run`` around ``call`` (see :func:`_caller_body`); with ``loop``, ``call`` runs in a loop.

    A metered function with a loop keeps its gas in a local, synced around
    calls: the other path of the emitter's rebinding.
    """
    if loop:  # twice: local 0 counts
        call = [(O.LOOP, None), *call, (O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 0),
                (O.I32_CONST, 2), O.I32_LT_U, (O.BR_IF, 0), O.END]
    counter = ["i32"] if loop else []
    return builder.func(results=RESULTS, body=_caller_body(call), locals=counter, export="run")


def _import_memory(builder: ModuleBuilder) -> None:
    """Import memory 0 as ``env.mem`` (one page, at most four)."""
    builder.imports.append(name("env") + name("mem") + bytes([ExternKind.MEMORY]) + limits(1, 4))


def _run(builder: ModuleBuilder, gas_limit: int | None, canonical: bool, imports: Any = None) -> None:
    """Instantiate the module in one variant, call ``run`` and check its values and the memory."""
    compiled = wasm.compile(wasm.decode(builder.build()), metered=gas_limit is not None,
                            canonical_nans=canonical)
    instance = wasm.instantiate(compiled, imports, gas_limit=gas_limit, canonical_nans=canonical)
    assert instance.exports["run"]() == (I32_BITS, I64_BITS, F64_VALUE, *MINE)
    image = struct.pack("<I4xQd", I32_BITS, I64_BITS, F64_VALUE) + struct.pack("<I4xQd", *MINE)
    assert instance.memory.read(NEW, 48) == image


def _module() -> ModuleBuilder:
    builder = ModuleBuilder()
    builder.memory(1, 4, export="mem")
    return builder


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
def test_a_defined_callee_grows(gas_limit: int | None, canonical: bool) -> None:
    builder = _module()
    grow = builder.func(body=_grower_body())
    _caller(builder, [(O.CALL, grow)])
    _run(builder, gas_limit, canonical)




@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize("loop", [False, True], ids=["straight", "loop"])
def test_a_callee_grows_through_a_chain_of_calls(gas_limit: int | None, canonical: bool, loop: bool) -> None:
    """``run`` -> first -> second (which calls itself once) -> grow, each defined after its caller."""
    builder = _module()
    first, second, grow = 1, 2, 3
    _caller(builder, [(O.CALL, first)], loop)
    assert builder.func(body=[(O.I32_CONST, 1), (O.CALL, second)]) == first
    again = [(O.LOCAL_GET, 0), (O.IF, None), (O.I32_CONST, 0), (O.CALL, second),
             O.ELSE, (O.CALL, grow), O.END]
    assert builder.func(params=["i32"], body=again) == second
    assert builder.func(body=_grower_body()) == grow
    _run(builder, gas_limit, canonical)


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize("through", [False, True], ids=["in-the-caller", "in-a-callee"])
def test_a_callee_grows_through_call_indirect(gas_limit: int | None, canonical: bool, through: bool) -> None:
    """``run`` reaches the grower by ``call_indirect``, itself or in a function it calls."""
    builder = _module()
    builder.table(1, 1)
    indirect = [(O.I32_CONST, 0), (O.CALL_INDIRECT, (builder.type(), 0))]
    _caller(builder, [(O.CALL, 1)] if through else indirect)
    if through:
        builder.func(body=indirect)
    grow = builder.func(body=_grower_body())
    builder.elem([(O.I32_CONST, 0)], [grow])
    _run(builder, gas_limit, canonical)


def _importer(through: bool) -> ModuleBuilder:
    """A module importing ``env.grow`` and its memory whose ``run`` calls grow (``through``: in a callee)."""
    builder = ModuleBuilder()
    grow = builder.import_func("env", "grow")
    _import_memory(builder)
    _caller(builder, [(O.CALL, grow + 2 if through else grow)])  # run is grow + 1
    if through:
        builder.func(body=[(O.CALL, grow)])
    return builder


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize("through", [False, True], ids=["in-the-caller", "in-a-callee"])
def test_a_host_function_grows_the_shared_memory(gas_limit: int | None, canonical: bool,
                                                 through: bool) -> None:
    """``run`` calls a host function holding the memory it imports, itself or in a function it calls."""
    builder = _importer(through)
    memory = wasm.Memory(1, 4)

    def host_grow() -> None:
        assert memory.grow(1) == 1
        memory.write(NEW, struct.pack("<I4xQd", I32_BITS, I64_BITS, F64_VALUE))

    _run(builder, gas_limit, canonical, {"env": {"grow": wasm.host(host_grow, caller=False), "mem": memory}})


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize("through", [False, True], ids=["in-the-caller", "in-a-callee"])
def test_another_instances_function_grows_the_shared_memory(gas_limit: int | None, canonical: bool,
                                                            through: bool) -> None:
    """``run`` calls an imported function of the instance that owns the memory, itself or in a callee."""
    owner = _module()
    owner.func(body=_grower_body(), export="grow")
    owner_module = wasm.compile(wasm.decode(owner.build()), metered=gas_limit is not None,
                                canonical_nans=canonical)
    exports = wasm.instantiate(owner_module, gas_limit=gas_limit, canonical_nans=canonical).exports
    _run(_importer(through), gas_limit, canonical, {"env": {"grow": exports["grow"], "mem": exports["mem"]}})


# ---------------------------------------------------------------- the analysis and the source


def _graph() -> ModuleBuilder:
    """Every way a function may or may not grow memory, by index.

    0 import; 1 grows; 2 calls 1; 3 calls 2 (a chain); 4 and 5 call each
    other, 5 also calls 3 (a cycle that grows); 6 and 7 call each other only
    (a cycle that does not); 8 calls the import; 9 does ``call_indirect``;
    10 calls 9; 11 stores to memory and calls 6; 12 holds ``memory.grow``
    only in unreachable code; 13 calls nothing.
    """
    builder = ModuleBuilder()
    builder.import_func("env", "f")
    builder.memory(1, 4)
    builder.table(1, 1)
    bodies: list[list[Any]] = [
        [(O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP],
        [(O.CALL, 1)],
        [(O.CALL, 2)],
        [(O.CALL, 5)],
        [(O.CALL, 4), (O.CALL, 3)],
        [(O.CALL, 7)],
        [(O.CALL, 6)],
        [(O.CALL, 0)],
        [(O.I32_CONST, 0), (O.CALL_INDIRECT, (builder.type(), 0))],
        [(O.CALL, 9)],
        [(O.I32_CONST, 8), (O.I32_CONST, 5), (O.I32_STORE, (2, 0)), (O.CALL, 6)],
        [O.UNREACHABLE, (O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP],
        [(O.I32_CONST, 8), (O.I32_LOAD, (2, 0)), O.DROP],
    ]
    for body in bodies:
        builder.func(body=body)
    return builder


def test_the_functions_that_cannot_grow_memory() -> None:
    assert steady_functions(wasm.decode(_graph().build())) == {6, 7, 11, 13}


def test_a_long_chain_is_followed_without_recursion() -> None:
    """Function i calls i + 1 and the last one grows: none of 5,000 is steady; without the grow, all are."""
    count = 5000
    for grows in (True, False):
        builder = ModuleBuilder()
        builder.memory(1, 2)
        for index in range(count - 1):
            builder.func(body=[(O.CALL, index + 1)])
        builder.func(body=[(O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP] if grows else [])
        steady = steady_functions(wasm.decode(builder.build()))
        assert steady == (frozenset() if grows else frozenset(range(count)))


def _bindings(source: str) -> int:
    return sum(1 for line in source.splitlines() if "= MEM." in line)


@pytest.mark.parametrize("metered", [False, True], ids=["unmetered", "metered"])
@pytest.mark.parametrize("loop", [False, True], ids=["straight", "loop"])
@pytest.mark.parametrize(("callee", "rebinds"), [
    pytest.param(13, False, id="leaf"), pytest.param(11, False, id="steady-chain"),
    pytest.param(1, True, id="grows"), pytest.param(5, True, id="grows-in-a-cycle"),
    pytest.param(8, True, id="calls-an-import"), pytest.param(10, True, id="calls-indirect"),
    pytest.param(0, True, id="the-import"),
])
def test_views_are_bound_again_only_after_a_call_that_may_grow(metered: bool, loop: bool, callee: int,
                                                               rebinds: bool) -> None:
    """A caller holding the w4 view calls ``callee``: a binding after the call exactly when it may grow."""
    builder = _graph()
    call = [(O.CALL, callee)]
    if loop:
        call = [(O.LOOP, None), *call, (O.LOCAL_GET, 0), (O.BR_IF, 0), O.END]
    body = [(O.I32_CONST, 16), (O.I32_LOAD, (2, 0)), O.DROP, *call, (O.I32_CONST, 16), (O.I32_LOAD, (2, 0))]
    caller = builder.func(params=["i32"], results=["i32"], body=body)
    source = render_python(wasm.decode(builder.build()), caller, metered)
    assert f"f{callee}(" in source and "w4[" in source
    assert _bindings(source) == (2 if rebinds else 1), source


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
def test_a_module_loaded_partial_knows_which_callees_grow(gas_limit: int | None, canonical: bool) -> None:
    """A partial blob's module is slim (no bodies) until its first compilation decodes them again.

    Which callees may grow is read from the bodies, so a view of the slim
    module would call every function steady and ``run`` would use a view the
    grow released. The loaded module compiles from the decoded module's view,
    even when something read the slim one's first.
    """
    builder = _module()
    grow = builder.func(body=_grower_body())
    _caller(builder, [(O.CALL, grow)])
    code = builder.build()
    metered = gas_limit is not None
    lazy = wasm.CompiledModule(wasm.decode(code), metered, DEFAULT_MAX_REGISTERS, canonical)
    loaded = wasm.deserialize_compiled(wasm.serialize_compiled(lazy, code), metered=metered,
                                       canonical_nans=canonical)
    assert not loaded.codes  # nothing stored: every function compiles from the bodies decoded again
    assert loaded.view.steady == frozenset({0, 1})  # the slim module's view: no body grows
    instance = wasm.instantiate(loaded, gas_limit=gas_limit, canonical_nans=canonical)
    assert instance.exports["run"]() == (I32_BITS, I64_BITS, F64_VALUE, *MINE)
    assert loaded.view.steady == frozenset()  # grow (0) grows; run (1) calls it
