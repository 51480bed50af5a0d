"""The runtime API: Memory, Table, Global, Function objects, host functions, limits, start."""

from __future__ import annotations

import math
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm.module import Module

ENGINE = FIXTURES / "engine"
PAGE = 65536


def load(name: str) -> Module:
    return wasm.decode((ENGINE / f"{name}.wasm").read_bytes())


@pytest.fixture(scope="module")
def runtime_module() -> wasm.CompiledModule:
    """``runtime.wasm`` compiled once (unmetered) for every test that instantiates it."""
    return wasm.compile(load("runtime"), metered=False)


def default_hosts(**overrides: Any) -> dict[str, dict[str, Any]]:
    hosts: dict[str, Any] = {
        "log": wasm.host(lambda caller, ptr, n: None),
        "twice": lambda x: 2 * x,
        "pair": lambda: (1, 2),
        "bad": lambda: "not a number",
    }
    hosts.update(overrides)
    return {"host": hosts}


@pytest.fixture()
def instance(runtime_module: wasm.CompiledModule) -> wasm.Instance:
    return wasm.instantiate(runtime_module, default_hosts())


# ---------------------------------------------------------------- Memory


def test_memory_api() -> None:
    memory = wasm.Memory(1, 3)
    assert memory.size == 1 and memory.max == 3
    memory.write(10, b"abc")
    assert memory.read(9, 5) == b"\0abc\0"
    assert memory.grow(1) == 1 and memory.size == 2
    assert memory.read(PAGE * 2 - 1, 1) == b"\0"
    assert memory.grow(2) == -1 and memory.size == 2  # beyond the declared maximum
    assert memory.grow(0) == 2


@pytest.mark.parametrize(("addr", "length"), [(PAGE - 2, 3), (PAGE, 1), (-1, 1)])
def test_memory_access_out_of_bounds_traps(addr: int, length: int) -> None:
    memory = wasm.Memory(1)
    with pytest.raises(wasm.Trap) as raised:
        memory.write(addr, b"x" * length)
    assert raised.value.kind is wasm.TrapKind.OUT_OF_BOUNDS_MEMORY
    assert memory.read(PAGE - 2, 2) == b"\0\0"  # nothing was written
    with pytest.raises(wasm.Trap):
        memory.read(addr, length)


def test_memory_growth_is_capped_by_the_runtime_limit() -> None:
    memory = wasm.Memory(1)  # no declared maximum: the default limit applies
    assert memory.grow(wasm.RuntimeLimits().memory_pages - 1) == 1
    assert memory.grow(1) == -1


def test_memory_grows_in_place(instance: wasm.Instance) -> None:
    memory = instance.exports["memory"]
    data = memory.data
    assert instance.exports["grow"](2) == 1
    assert memory.data is data and memory.size == 3
    instance.exports["store"](3 * PAGE - 4, 0x01020304)
    assert memory.read(3 * PAGE - 4, 4) == bytes([4, 3, 2, 1])
    assert instance.exports["grow"](5) == -1


def test_invalid_memory_limits() -> None:
    with pytest.raises(ValueError):
        wasm.Memory(3, 2)
    with pytest.raises(ValueError):
        wasm.Memory(300)  # more than the default runtime limit of 256 pages


# ---------------------------------------------------------------- Table


def test_table_api(instance: wasm.Instance) -> None:
    table = wasm.Table(2, 4, elem="funcref")
    assert table.size == 2 and table.get(0) is None
    seven = instance.exports["seven"]
    table.set(1, seven)
    assert table.get(1) is seven
    assert table.grow(2, seven) == 2 and table.get(3) is seven
    assert table.grow(1) == -1
    with pytest.raises(wasm.Trap) as raised:
        table.get(4)
    assert raised.value.kind is wasm.TrapKind.OUT_OF_BOUNDS_TABLE
    with pytest.raises(TypeError):
        table.set(0, "not a function")


def test_externref_table_holds_any_object() -> None:
    table = wasm.Table(1, elem="externref")
    marker = object()
    table.set(0, marker)
    assert table.get(0) is marker


def test_exported_table_is_shared_with_compiled_code(instance: wasm.Instance) -> None:
    table = instance.exports["table"]
    assert instance.exports["call_slot"](1) == 7  # the element segment put $seven there
    table.set(0, instance.exports["seven"])
    assert instance.exports["call_slot"](0) == 7
    with pytest.raises(wasm.Trap) as raised:
        instance.exports["call_slot"](5)
    assert raised.value.kind is wasm.TrapKind.UNDEFINED_ELEMENT


# ---------------------------------------------------------------- Global


def test_global_api() -> None:
    counter = wasm.Global("i32", -1, mutable=True)
    assert counter.value == -1 and counter.raw == 0xFFFFFFFF
    counter.value = 5
    assert counter.value == 5
    frozen = wasm.Global("f64", 1.5)
    with pytest.raises(AttributeError):
        frozen.value = 2.0
    single = wasm.Global("f32", 0.1)
    assert single.value != 0.1 and abs(single.value - 0.1) < 1e-8  # rounded to f32
    assert single.raw == 0x3DCCCCCD
    with pytest.raises(TypeError):
        wasm.Global("i64", 2**64)


def test_exported_globals(instance: wasm.Instance) -> None:
    counter = instance.exports["counter"]
    assert instance.exports["bump"]() == 1
    assert counter.value == 1
    counter.value = 41
    assert instance.exports["bump"]() == 42
    assert instance.exports["pi"].value == 3.25
    assert instance.exports["big"].value == -5 and instance.exports["big"].raw == 2**64 - 5


# ---------------------------------------------------------------- Function


def test_function_calls_convert_values(instance: wasm.Instance) -> None:
    neg = instance.exports["neg"]
    assert neg.type == wasm.FuncType(("i32", "i64", "f32", "f64"), ("i32", "i64", "f32", "f64"))
    assert neg(5, -7, 1.5, 2.5) == (-5, 7, -1.5, -2.5)
    assert neg(-2**31, 2**64 - 1, 0.0, -0.0)[:2] == (-2**31, 1)
    assert neg.call_raw([1, 1, 0x3FC00000, 0]) == (0xFFFFFFFF, 2**64 - 1, 0xBFC00000, 1 << 63)


@pytest.mark.parametrize("args", [(), (1, 2, 3.0), (1, 2, 3.0, 4.0, 5)], ids=["none", "too-few", "too-many"])
def test_wrong_arity_is_a_type_error(instance: wasm.Instance, args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        instance.exports["neg"](*args)


@pytest.mark.parametrize("args", [("1", 2, 3.0, 4.0), (1.5, 2, 3.0, 4.0), (1, 2, "x", 4.0),
                                  (2**32, 0, 0.0, 0.0)],
                         ids=["str-for-i32", "float-for-i32", "str-for-f32", "i32-out-of-range"])
def test_wrong_argument_types_are_type_errors(instance: wasm.Instance, args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        instance.exports["neg"](*args)


def test_f32_arguments_are_rounded(instance: wasm.Instance) -> None:
    assert instance.exports["neg"](0, 0, 0.1, 0.0)[2] == -wasm.Global("f32", 0.1).value
    assert math.isinf(instance.exports["neg"](0, 0, 1e300, 0.0)[2])


# ---------------------------------------------------------------- host functions


def test_host_function_with_caller_reads_memory(runtime_module: wasm.CompiledModule) -> None:
    seen: list[bytes] = []

    def log(caller: wasm.Caller, ptr: int, length: int) -> None:
        seen.append(caller.memory.read(ptr, length))
        assert caller.gas.limit is None

    instance = wasm.instantiate(runtime_module, default_hosts(log=wasm.host(log)))
    instance.exports["log_hello"]()
    assert seen == [b"hello"]


def test_plain_callables_are_typed_by_the_import(instance: wasm.Instance) -> None:
    assert instance.exports["twice"](21) == 42
    assert instance.exports["twice"](-3) == -6
    assert instance.exports["pair"]() == (1, 2)


@pytest.mark.parametrize(("export", "host", "result"), [
    ("bad", "bad", "not a number"),
    ("twice", "twice", 2**40),
    ("pair", "pair", (1,)),
    ("log_hello", "log", 5),
], ids=["str-for-i32", "i32-out-of-range", "too-few-results", "result-for-none"])
def test_host_result_mismatch_is_a_trap(runtime_module: wasm.CompiledModule, export: str, host: str,
                                        result: Any) -> None:
    def returns(*args: Any) -> Any:
        return result

    instance = wasm.instantiate(runtime_module, default_hosts(**{host: returns}))
    with pytest.raises(wasm.Trap) as raised:
        instance.exports[export](*([1] if export == "twice" else []))
    assert raised.value.kind is wasm.TrapKind.HOST


class Boom(Exception):
    pass


def test_host_exception_reaches_the_caller_unchanged(runtime_module: wasm.CompiledModule) -> None:
    boom = Boom("no")

    def twice(x: int) -> int:
        raise boom

    instance = wasm.instantiate(runtime_module, default_hosts(twice=twice))
    with pytest.raises(Boom) as raised:
        instance.exports["twice"](1)
    assert raised.value is boom
    assert instance.exports["twice"] is not None and instance.exports["seven"]() == 7


@pytest.mark.parametrize("error", [IndexError("host"), ZeroDivisionError("host"), KeyError("host")])
def test_host_exceptions_are_not_mistaken_for_traps(runtime_module: wasm.CompiledModule,
                                                    error: Exception) -> None:
    def twice(x: int) -> int:
        raise error

    instance = wasm.instantiate(runtime_module, default_hosts(twice=twice))
    with pytest.raises(type(error)) as raised:
        instance.exports["twice"](1)
    assert raised.value is error


def test_host_trap_propagates_as_a_trap(runtime_module: wasm.CompiledModule) -> None:
    def twice(x: int) -> int:
        raise wasm.Trap(wasm.TrapKind.HOST, "refused")

    instance = wasm.instantiate(runtime_module, default_hosts(twice=twice))
    with pytest.raises(wasm.Trap, match="refused"):
        instance.exports["twice"](1)


def test_host_may_call_back_into_wasm(runtime_module: wasm.CompiledModule) -> None:
    box: dict[str, wasm.Instance] = {}

    def twice(x: int) -> int:
        return x + box["instance"].exports["seven"]()

    box["instance"] = wasm.instantiate(runtime_module, default_hosts(twice=twice))
    assert box["instance"].exports["twice"](1) == 8


def test_reentry_depth_is_bounded() -> None:
    box: dict[str, Any] = {}

    def again(n: int) -> None:
        box["f"](n)  # host -> wasm -> host -> ... without end

    instance = wasm.instantiate(load("gas"), {"host": {"charge": again}},
                                limits=wasm.RuntimeLimits(host_reentry=20))
    box["f"] = instance.exports["host"]
    with pytest.raises(wasm.StackExhausted):
        instance.exports["host"](0)
    assert instance.exports["add"](2, 3) == 5


# ---------------------------------------------------------------- limits, start, segments


def test_memory_larger_than_the_runtime_limit_is_a_link_error(runtime_module: wasm.CompiledModule) -> None:
    with pytest.raises(wasm.LinkError, match="limit"):
        wasm.instantiate(runtime_module, default_hosts(), limits=wasm.RuntimeLimits(memory_pages=0))


def test_runtime_limit_caps_memory_growth(runtime_module: wasm.CompiledModule) -> None:
    instance = wasm.instantiate(runtime_module, default_hosts(), limits=wasm.RuntimeLimits(memory_pages=2))
    assert instance.exports["grow"](1) == 1
    assert instance.exports["grow"](1) == -1  # the module allows 4 pages, the runtime 2


def test_start_function_runs_at_instantiation() -> None:
    memory = wasm.Memory(1)
    wasm.instantiate(load("start"), {"env": {"memory": memory}})
    assert memory.read(0, 1) == b"\x2a"


def test_out_of_bounds_data_segment_traps_and_keeps_earlier_writes() -> None:
    memory = wasm.Memory(1)
    with pytest.raises(wasm.Trap) as raised:
        wasm.instantiate(load("segments"), {"env": {"memory": memory}})
    assert raised.value.kind is wasm.TrapKind.OUT_OF_BOUNDS_MEMORY
    assert memory.read(100, 4) == b"kept"
    assert memory.read(65534, 2) == b"\0\0"


def test_data_segments_and_exports(instance: wasm.Instance) -> None:
    assert instance.exports["memory"].read(16, 5) == b"hello"
    assert instance.exports["load"](16) == int.from_bytes(b"hell", "little")
    assert isinstance(instance.exports["memory"], wasm.Memory)
    assert isinstance(instance.exports["table"], wasm.Table)
    assert isinstance(instance.exports["counter"], wasm.Global)
    assert isinstance(instance.exports["seven"], wasm.Function)
    with pytest.raises(wasm.Trap) as raised:
        instance.exports["load"](PAGE - 3)
    assert raised.value.kind is wasm.TrapKind.OUT_OF_BOUNDS_MEMORY
