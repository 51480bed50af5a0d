"""Linking instances: shared functions, memories, tables and globals; import matching."""

from __future__ import annotations

from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm.module import Module

ENGINE = FIXTURES / "engine"


def load(name: str) -> Module:
    return wasm.decode((ENGINE / f"{name}.wasm").read_bytes())


@pytest.fixture(scope="module")
def main_module() -> wasm.CompiledModule:
    """``main.wasm`` compiled once (unmetered) for every test that instantiates it."""
    return wasm.compile(load("main"), metered=False)


@pytest.fixture()
def env() -> wasm.Instance:
    return wasm.instantiate(load("env"))


@pytest.fixture()
def main(main_module: wasm.CompiledModule, env: wasm.Instance) -> wasm.Instance:
    return wasm.instantiate(main_module, {"env": env.exports})


def test_main_imports_add_from_env(main: wasm.Instance) -> None:
    assert main.exports["three"]() == 3
    assert main.exports["add5"](10) == 15


def test_an_imported_function_is_called_directly(main: wasm.Instance, env: wasm.Instance) -> None:
    # linking costs nothing at run time: main's compiled code calls env's compiled function
    assert main.ns["f0"] is env.exports["add"].fn


def test_shared_memory(main: wasm.Instance, env: wasm.Instance) -> None:
    assert main.exports["first_byte"]() == ord("e")  # env's data segment
    main.exports["poke"](7, 99)
    assert env.exports["peek"](7) == 99
    assert env.exports["mem"].read(7, 1) == b"c"


def test_shared_table(main: wasm.Instance, env: wasm.Instance) -> None:
    assert main.exports["apply"](0, 20, 3) == 23  # env.add
    assert main.exports["apply"](1, 20, 3) == 17  # env.sub
    table = env.exports["tab"]
    table.set(0, env.exports["sub"])
    assert main.exports["apply"](0, 20, 3) == 17
    with pytest.raises(wasm.Trap) as raised:
        main.exports["apply_wrong"](0)  # (i32) -> i32 expected, env.sub is (i32, i32) -> i32
    assert raised.value.kind is wasm.TrapKind.INDIRECT_CALL_TYPE_MISMATCH
    assert table.grow(2) == 2  # two null slots, seen by main at once
    with pytest.raises(wasm.Trap) as raised:
        main.exports["apply"](3, 1, 2)
    assert raised.value.kind is wasm.TrapKind.UNINITIALIZED_ELEMENT
    with pytest.raises(wasm.Trap) as raised:
        main.exports["apply"](10, 1, 2)
    assert raised.value.kind is wasm.TrapKind.UNDEFINED_ELEMENT


def test_shared_globals(main: wasm.Instance, env: wasm.Instance) -> None:
    assert main.exports["plus_base"](1) == 1001
    main.exports["hit"]()
    main.exports["hit"]()
    assert env.exports["hits_now"]() == 2
    env.exports["hits"].value = 40
    main.exports["hit"]()
    assert env.exports["hits"].value == 41


def test_host_objects_can_be_imported(main_module: wasm.CompiledModule, env: wasm.Instance) -> None:
    memory, table = wasm.Memory(1, 2), wasm.Table(3, elem="funcref")
    hits = wasm.Global("i32", 0, mutable=True)
    imports = {"env": {"add": lambda a, b: a * b, "mem": memory, "tab": table,
                       "base": wasm.Global("i32", 5), "hits": hits}}
    instance = wasm.instantiate(main_module, imports)
    assert instance.exports["three"]() == 2  # our "add" multiplies
    assert instance.exports["plus_base"](1) == 6
    instance.exports["hit"]()
    assert hits.value == 1
    instance.exports["poke"](3, 5)
    assert memory.read(3, 1) == b"\x05"
    table.set(2, env.exports["add"])
    assert instance.exports["apply"](2, 4, 5) == 9


def test_two_importers_share_one_instance(main_module: wasm.CompiledModule, env: wasm.Instance) -> None:
    first = wasm.instantiate(main_module, {"env": env.exports})
    second = wasm.instantiate(main_module, {"env": env.exports})
    first.exports["hit"]()
    second.exports["hit"]()
    assert env.exports["hits"].value == 2
    first.exports["poke"](0, ord("E"))
    assert second.exports["first_byte"]() == ord("E")


# ---------------------------------------------------------------- LinkError


def env_with(env: wasm.Instance, **changes: Any) -> dict[str, dict[str, Any]]:
    exports = dict(env.exports)
    for name, value in changes.items():
        if value is None:
            del exports[name]
        else:
            exports[name] = value
    return {"env": exports}


@pytest.mark.parametrize(("change", "message"), [
    ({"add": None}, "unknown import"),
    ({"add": wasm.Memory(1)}, "expected a function"),
    ({"add": "answer"}, "function type"),
    ({"mem": "add"}, "expected a memory"),
    ({"mem": wasm.Memory(0)}, "memory"),  # smaller than the declared minimum
    ({"tab": wasm.Table(1)}, "table"),
    ({"tab": wasm.Table(2, elem="externref")}, "table"),
    ({"base": wasm.Global("i32", 1, mutable=True)}, "global"),
    ({"base": wasm.Global("i64", 1)}, "global"),
    ({"hits": wasm.Global("i32", 1)}, "global"),
    ({"hits": 5}, "expected a global"),
], ids=["missing", "memory-for-func", "func-type", "func-for-memory", "memory-min", "table-min",
        "table-elem", "global-mut", "global-type", "global-immutable", "int-for-global"])
def test_link_errors(main_module: wasm.CompiledModule, env: wasm.Instance, change: dict[str, Any],
                     message: str) -> None:
    resolved = {k: env.exports[v] if isinstance(v, str) else v for k, v in change.items()}
    with pytest.raises(wasm.LinkError, match=message):
        wasm.instantiate(main_module, env_with(env, **resolved))


def test_missing_import_module(main_module: wasm.CompiledModule) -> None:
    with pytest.raises(wasm.LinkError, match="unknown import module"):
        wasm.instantiate(main_module, {})


def test_memory_maximum_must_fit_the_declared_one(env: wasm.Instance) -> None:
    # start.wasm imports (memory 1) without a maximum: any maximum matches
    wasm.instantiate(load("start"), {"env": {"memory": wasm.Memory(1, 5)}})
    assert env.exports["mem"].max == 4
    # main.wasm's "tab" import declares no maximum either; env's table (2..10) matches it
    assert wasm.instantiate(load("main"), {"env": env.exports}).exports["three"]() == 3


@pytest.mark.parametrize(("memory", "ok"), [
    ((1, 2), True), ((2, 2), True), ((1, 1), True),
    ((1, None), False), ((1, 3), False), ((0, 2), False),
], ids=["same", "bigger-min", "smaller-max", "no-max", "larger-max", "smaller-min"])
def test_memory_limits_matching(memory: tuple[int, int | None], ok: bool) -> None:
    imports = {"env": {"memory": wasm.Memory(*memory), "table": wasm.Table(1, 3)}}
    if ok:
        wasm.instantiate(load("bounded"), imports)
    else:
        with pytest.raises(wasm.LinkError, match="memory"):
            wasm.instantiate(load("bounded"), imports)


@pytest.mark.parametrize(("table", "ok"), [
    ((1, 3), True), ((3, 3), True), ((1, None), False), ((1, 4), False), ((0, 3), False),
], ids=["same", "bigger-min", "no-max", "larger-max", "smaller-min"])
def test_table_limits_matching(table: tuple[int, int | None], ok: bool) -> None:
    imports = {"env": {"memory": wasm.Memory(1, 2), "table": wasm.Table(*table)}}
    if ok:
        wasm.instantiate(load("bounded"), imports)
    else:
        with pytest.raises(wasm.LinkError, match="table"):
            wasm.instantiate(load("bounded"), imports)
