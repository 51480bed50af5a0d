"""Memory an instance may hold is bounded and paid for: the instance budget, grows, release.

Each test builds its module with :mod:`wasmpool.wasm.builder` and checks an
outcome decided before anything large is allocated (``tracemalloc`` peaks,
live objects), never a timing.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import GROW_PAGE_GAS, OPS
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime import setup_gas
from wasmpool.wasm.runtime.budget import TABLE_ELEMENT_BYTES
from wasmpool.wasm.types import PAGE_SIZE

MIB = 1024 * 1024
VARIANTS = [pytest.param(None, id="unmetered"), pytest.param(10**9, id="metered")]


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def peak() -> int:
    return tracemalloc.get_traced_memory()[1]


def tables_module(count: int, elements: int) -> wasm.Module:
    builder = ModuleBuilder()
    for _ in range(count):
        builder.table(elements)
    return wasm.decode(builder.build())


# ---------------------------------------------------------------- the budget at instantiation


def test_many_large_tables_are_refused_before_allocation(traced: None) -> None:
    module = tables_module(64, 1_000_000)  # each within table_elements, 512 MB together
    with pytest.raises(wasm.LinkError, match="instance_bytes") as caught:
        wasm.instantiate(module)
    assert "64000000 elements" in str(caught.value)
    assert peak() < 4 * MIB


def test_hundreds_of_tables_are_a_link_error_not_memory_error() -> None:
    module = tables_module(600, 1_000_000)
    with pytest.raises(wasm.LinkError, match="instance_bytes"):
        wasm.instantiate(module)


def test_tables_and_memories_share_one_budget() -> None:
    builder = ModuleBuilder()
    builder.memory(16)
    builder.table(1000)
    module = wasm.decode(builder.build())
    exact = 16 * PAGE_SIZE + 1000 * TABLE_ELEMENT_BYTES
    wasm.instantiate(module, limits=wasm.RuntimeLimits(instance_bytes=exact)).release()
    with pytest.raises(wasm.LinkError, match=f"need {exact} bytes"):
        wasm.instantiate(module, limits=wasm.RuntimeLimits(instance_bytes=exact - 1))


def test_imported_memories_count_against_their_owner() -> None:
    importer = ModuleBuilder()
    importer.imports.append(b"\x03env\x03mem\x02\x00\x10")  # (import "env" "mem" (memory 16))
    module = wasm.decode(importer.build())
    memory = wasm.Memory(16)  # made by the embedder: bounded only by its own caps
    wasm.instantiate(module, {"env": {"mem": memory}}, limits=wasm.RuntimeLimits(instance_bytes=0)).release()


# ---------------------------------------------------------------- grows within the budget


def grower(op: O, limits: wasm.RuntimeLimits, gas_limit: int | None, maximum: int | None = None) -> Any:
    builder = ModuleBuilder()
    if op is O.MEMORY_GROW:
        builder.memory(1, maximum, export="mem")
        body: list[Any] = [(O.LOCAL_GET, 0), O.MEMORY_GROW]
    else:
        builder.table(1, maximum, export="tab")
        body = [(O.REF_NULL, wasm.ValType.FUNCREF), (O.LOCAL_GET, 0), (O.TABLE_GROW, 0)]
    builder.func(["i32"], ["i32"], body, export="grow")
    return wasm.instantiate(wasm.decode(builder.build()), limits=limits, gas_limit=gas_limit)


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_memory_grow_past_the_budget_fails_with_minus_one(gas_limit: int | None) -> None:
    limits = wasm.RuntimeLimits(memory_pages=100, instance_bytes=10 * PAGE_SIZE)
    instance = grower(O.MEMORY_GROW, limits, gas_limit)
    grow = instance.exports["grow"]
    assert grow(10) == -1  # 11 pages would pass the budget, though within memory_pages
    assert grow(9) == 1
    assert grow(1) == -1
    assert instance.exports["mem"].size == 10


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_table_grow_past_the_budget_fails_with_minus_one(gas_limit: int | None) -> None:
    limits = wasm.RuntimeLimits(instance_bytes=100 * TABLE_ELEMENT_BYTES)
    instance = grower(O.TABLE_GROW, limits, gas_limit)
    grow = instance.exports["grow"]
    assert grow(100) == -1
    assert grow(99) == 1
    assert grow(1) == -1
    assert instance.exports["tab"].size == 100


def test_host_grows_of_a_defined_memory_count_too() -> None:
    limits = wasm.RuntimeLimits(instance_bytes=4 * PAGE_SIZE)
    memory = grower(O.MEMORY_GROW, limits, None).exports["mem"]
    assert memory.grow(4) == -1
    assert memory.grow(3) == 1


# ---------------------------------------------------------------- grows are paid before they allocate


def repeated_grows(times: int, pages: int) -> wasm.Module:
    """A straight-line function that grows memory ``times`` times by ``pages`` and returns."""
    builder = ModuleBuilder()
    builder.memory(0)
    body: list[Any] = []
    for _ in range(times):
        body += [(O.I32_CONST, pages), O.MEMORY_GROW, O.DROP]
    builder.func([], [], body, export="run")
    return wasm.decode(builder.build())


def block_price(times: int) -> int:
    return times * sum(OPS[op].gas for op in (O.I32_CONST, O.MEMORY_GROW, O.DROP)) + OPS[O.END].gas


@pytest.mark.parametrize(("times", "pages"), [(1, 200), (8, 30)])
def test_grow_past_gas_stops_before_allocating(traced: None, times: int, pages: int) -> None:
    limit = 10_000
    instance = wasm.instantiate(repeated_grows(times, pages), gas_limit=limit)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["run"]()
    assert limit <= instance.gas_used <= limit + block_price(times) + GROW_PAGE_GAS * pages
    assert peak() < 4 * MIB  # not one grow of the call was granted


def test_grow_that_gas_covers_is_charged_once() -> None:
    instance = wasm.instantiate(repeated_grows(2, 3), gas_limit=10**6)
    instance.exports["run"]()
    assert instance.memory is not None and instance.memory.size == 6
    assert instance.gas_used >= 6 * GROW_PAGE_GAS


def test_refused_grow_is_not_charged_nor_exhausts() -> None:
    instance = grower(O.MEMORY_GROW, wasm.RuntimeLimits(), 1_000, maximum=2)
    assert instance.exports["grow"](50_000) == -1  # would cost 50M gas if it were granted
    assert instance.gas_used < 1_000


# ---------------------------------------------------------------- release frees at once


def big_memory_module() -> wasm.Module:
    builder = ModuleBuilder()
    builder.memory(256, export="mem")  # 16 MiB
    builder.func([], ["i32"], [(O.I32_CONST, 0), (O.I32_CONST, 7), (O.I32_STORE, (2, 0)), O.MEMORY_SIZE],
                 export="touch")
    return wasm.decode(builder.build())


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_released_instances_free_memory_without_the_collector(traced: None, gas_limit: int | None) -> None:
    module = big_memory_module()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(12):
            instance = wasm.instantiate(module, gas_limit=gas_limit)
            assert instance.exports["touch"]() == 256
            instance.release()
            instance.release()  # idempotent
        del instance
        assert tracemalloc.get_traced_memory()[0] < 20 * MIB  # at most one memory alive, not twelve
    finally:
        if enabled:
            gc.enable()


def test_instance_as_context_manager_releases() -> None:
    with wasm.instantiate(big_memory_module()) as instance:
        touch = instance.exports["touch"]
        assert touch() == 256
    assert instance.exports == {} and instance.memory is None
    with pytest.raises(wasm.LinkError, match="released"):
        touch()


def test_failed_instantiation_is_freed_at_once(traced: None) -> None:
    builder = ModuleBuilder()
    builder.memory(256)
    builder.func([], [], [], export="f")  # functions make the namespace a cycle
    builder.data([(O.I32_CONST, 256 * PAGE_SIZE)], b"x")  # out of bounds: instantiation traps
    module = wasm.decode(builder.build())
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(8):
            with pytest.raises(wasm.Trap):
                wasm.instantiate(module)
        assert tracemalloc.get_traced_memory()[0] < 20 * MIB
    finally:
        if enabled:
            gc.enable()


# ---------------------------------------------------------------- host calls find the memory in O(1)


class CountingDict(dict[str, Any]):
    """Counts how often the exports are scanned."""

    scans = 0

    def values(self) -> Any:
        CountingDict.scans += 1
        return super().values()

    def items(self) -> Any:
        CountingDict.scans += 1
        return super().items()

    def __iter__(self) -> Any:
        CountingDict.scans += 1
        return super().__iter__()


def test_host_calls_do_not_scan_exports() -> None:
    builder = ModuleBuilder()
    host = builder.import_func("env", "peek", [], ["i32"])
    builder.memory(1, export="mem")
    builder.data([(O.I32_CONST, 0)], b"\x2a")
    for index in range(500):
        builder.export(f"e{index}", wasm.ExternKind.FUNC, host)
    builder.func([], ["i32"], [(O.CALL, host)], export="run")

    def peek(caller: wasm.Caller) -> int:
        return caller.memory.read(0, 1)[0]
    instance = wasm.instantiate(wasm.decode(builder.build()), {"env": {"peek": wasm.host(peek)}})
    instance.exports = CountingDict(instance.exports)
    CountingDict.scans = 0
    assert instance.exports["run"]() == 42
    assert CountingDict.scans == 0


# ---------------------------------------------------------------- host results out of range


def host_returning(result: str, value: Any) -> Callable[[], Any]:
    builder = ModuleBuilder()
    host = builder.import_func("env", "h", [], [result])
    builder.func([], [result], [(O.CALL, host)], export="f")
    module = wasm.decode(builder.build())
    return wasm.instantiate(module, {"env": {"h": lambda: value}}, gas_limit=10**6).exports["f"]


@pytest.mark.parametrize(("result", "value"), [
    ("f32", 1e300), ("f32", 2**200), ("f32", -(2**200)), ("f32", 2**2000), ("f64", 2**2000),
    ("i32", 2**40), ("i32", "7"), ("i64", 1.5), ("f64", "x"), ("f32", None), ("funcref", 3),
], ids=lambda v: type(v).__name__ if not isinstance(v, str) else v)
def test_bad_host_results_are_traps(result: str, value: Any) -> None:
    with pytest.raises(wasm.Trap) as caught:
        host_returning(result, value)()
    assert caught.value.kind is wasm.TrapKind.HOST


@pytest.mark.parametrize(("value", "expected"), [(3.4028234663852886e38, 3.4028234663852886e38),
                                                 (float("inf"), float("inf")), (2**100, float(2**100))])
def test_f32_host_results_within_range_pass(value: Any, expected: float) -> None:
    assert host_returning("f32", value)() == expected


def test_huge_int_arguments_are_a_type_error() -> None:
    f = host_returning("f64", 1.0)
    builder = ModuleBuilder()
    builder.func(["f64"], ["f64"], [(O.LOCAL_GET, 0)], export="id")
    identity = wasm.instantiate(wasm.decode(builder.build())).exports["id"]
    assert f() == 1.0
    with pytest.raises(TypeError, match="does not fit in f64"):
        identity(2**2000)


# ---------------------------------------------------------------- instantiation is paid before it is done


def large_module(functions: int = 0, globals_: int = 0, items: int = 0, data: int = 0, pages: int = 0,
                 exports: int = 0) -> wasm.Module:
    builder = ModuleBuilder()
    for _ in range(max(functions, 1 if items or exports else 0)):
        builder.func([], [], [])
    for index in range(globals_):
        builder.global_("i64", index % 2 == 1, [(O.I64_CONST, index)])
    if items:
        builder.table(items)
        builder.elem([(O.I32_CONST, 0)], [0] * items)
    if pages or data:
        builder.memory(max(pages, 1))
    if data:
        builder.data([(O.I32_CONST, 0)], b"\x01" * data)
    for index in range(exports):
        builder.export(f"e{index}", wasm.ExternKind.FUNC, 0)
    return wasm.decode(builder.build())


def test_instantiation_is_charged_by_what_the_module_declares() -> None:
    module = large_module(functions=100, globals_=50, items=1000, data=65 * 64, pages=2, exports=10)
    price = (100 * setup_gas.FUNCTION_GAS + 50 * setup_gas.GLOBAL_GAS + 1000 * setup_gas.ELEM_ITEM_GAS
             + 10 * setup_gas.EXPORT_GAS + 2 * setup_gas.SEGMENT_GAS + 65 + 16 * setup_gas.TABLE_UNIT_GAS
             + 2 * setup_gas.MEMORY_PAGE_GAS)
    assert setup_gas.instantiation_gas(module) == price
    instance = wasm.instantiate(module, gas_limit=10**6)
    assert instance.gas_used == price - setup_gas.ALLOWANCE > 0
    assert wasm.instantiate(module).gas_used == 0  # unmetered


def test_small_modules_instantiate_within_the_allowance() -> None:
    module = large_module(functions=10, globals_=10, pages=1)
    assert wasm.instantiate(module, gas_limit=1).gas_used == 0


def test_instantiation_past_the_limit_is_exhausted_before_allocating(traced: None) -> None:
    module = large_module(pages=256, items=1000)  # 16 MiB of memory
    with pytest.raises(wasm.GasExhausted, match="instantiation costs"):
        wasm.instantiate(module, gas_limit=1_000)
    assert peak() < 1 * MIB


def test_instantiation_past_the_limit_runs_nothing() -> None:
    builder = ModuleBuilder()
    hit = builder.import_func("env", "hit")
    for _ in range(100):
        builder.func([], [], [])
    builder.start = builder.func([], [], [(O.CALL, hit)])
    module = wasm.decode(builder.build())
    calls: list[int] = []
    imports = {"env": {"hit": lambda: calls.append(1)}}
    with pytest.raises(wasm.GasExhausted):
        wasm.instantiate(module, imports, gas_limit=10_000)
    assert calls == []
    wasm.instantiate(module, imports, gas_limit=10**6).release()
    assert calls == [1]
