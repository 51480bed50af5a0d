"""A fresh instance per call from a prepared module: nothing of one instance reaches the next.

What depends on the module alone is prepared once per compiled module
(``runtime.prepared``); these tests check that every instance still starts
from the module's own initial state (memory, grown pages, globals, tables,
dropped segments, start-function effects, gas), whatever the previous
instance did or how it ended, metered and unmetered, from a compiled and from
a deserialized module; that instances of one module may link different
imports; that the per-module work is done once; and that the instance maker
written out for a module (``runtime.maker``) makes exactly what the general
path makes, and steps aside when the host functions change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm import serialize
from wasmpool.wasm.builder import ModuleBuilder, uleb, vector
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime import compiled as compiled_module
from wasmpool.wasm.runtime import instance as instance_module
from wasmpool.wasm.runtime import maker as maker_module
from wasmpool.wasm.runtime import prepared as prepared_module

GAS = 10**7
PASSIVE = b"PASSIVE!"


def _stateful() -> bytes:
    """A module with every kind of per-instance state, changed by its start function and its exports."""
    b = ModuleBuilder()
    note = b.import_func("env", "note", ["i32"], ["i32"])
    b.memory(1, 4, export="memory")
    b.table(2, export="table")
    counter = b.global_("i32", True, [(O.I32_CONST, 7)], export="counter")
    b.global_("i64", False, [(O.I64_CONST, 5)], export="five")
    first = b.func([], ["i32"], [(O.I32_CONST, 1)])
    second = b.func([], ["i32"], [(O.I32_CONST, 2)])
    helper = b.func(["i32"], ["i32"], [(O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD])  # reached by call only
    start = b.func([], [], [(O.GLOBAL_GET, counter), (O.I32_CONST, 100), O.I32_ADD, (O.GLOBAL_SET, counter),
                            (O.I32_CONST, 0), (O.I32_CONST, 0xAA), (O.I32_STORE8, (0, 0))])
    b.start = start
    b.func([], [], [
        (O.I32_CONST, 16), (O.I32_CONST, 0xFF), (O.I32_STORE8, (0, 0)),  # over the active data segment
        (O.I32_CONST, 1), O.MEMORY_GROW, O.DROP,
        (O.I32_CONST, 999), (O.GLOBAL_SET, counter),
        (O.I32_CONST, 1), (O.REF_FUNC, first), (O.TABLE_SET, 0),
        (O.DATA_DROP, 1), (O.ELEM_DROP, 1),
    ], export="mutate")
    b.func([], ["i32"], [  # the passive segments, into memory at 100 and table slot 1; then call through it
        (O.I32_CONST, 100), (O.I32_CONST, 0), (O.I32_CONST, len(PASSIVE)), (O.MEMORY_INIT, 1),
        (O.I32_CONST, 1), (O.I32_CONST, 0), (O.I32_CONST, 1), (O.TABLE_INIT, (1, 0)),
        (O.I32_CONST, 1), (O.CALL_INDIRECT, (b.type([], ["i32"]), 0)),
    ], export="use_passive")
    b.func([], [], [(O.I32_CONST, 3), (O.GLOBAL_SET, counter), (O.I32_CONST, 2), O.MEMORY_GROW, O.DROP,
                    (O.I32_CONST, 20), (O.I32_CONST, 0x55), (O.I32_STORE8, (0, 0)), O.UNREACHABLE],
           export="trap_midway")
    b.func(["i32"], ["i32"], [(O.LOCAL_GET, 0), (O.CALL, helper), (O.CALL, note)], export="note_next")
    b.elem([(O.I32_CONST, 0)], [second])
    b.elems.append(b"\x01\x00" + vector([uleb(first)]))  # passive: flags 1, elemkind funcref, [first]
    b.data([(O.I32_CONST, 16)], b"hello")
    b.datas.append(b"\x01" + uleb(len(PASSIVE)) + PASSIVE)  # passive
    return b.build()


STATEFUL = wasm.decode(_stateful())


def _imports(log: list[int] | None = None) -> dict[str, dict[str, Any]]:
    def note(value: int) -> int:
        if log is not None:
            log.append(value)
        return value * 2
    return {"env": {"note": note}}


def _compiled(metered: bool) -> wasm.CompiledModule:
    return wasm.compile(STATEFUL, metered=metered)


def _deserialized(metered: bool) -> wasm.CompiledModule:
    blob = serialize.serialize_compiled(wasm.compile(STATEFUL, metered=metered))
    return serialize.deserialize_compiled(blob, metered=metered)


SOURCES = [pytest.param(_compiled, id="compiled"), pytest.param(_deserialized, id="deserialized")]
VARIANTS = [pytest.param(False, id="unmetered"), pytest.param(True, id="metered")]


def _fresh_state(inst: wasm.Instance) -> dict[str, Any]:
    memory, table = inst.exports["memory"], inst.exports["table"]
    assert isinstance(memory, wasm.Memory) and isinstance(table, wasm.Table)
    counter, five = inst.exports["counter"], inst.exports["five"]
    assert isinstance(counter, wasm.Global) and isinstance(five, wasm.Global)
    gas = inst.gas_used  # before the table's functions are called
    return {"gas": gas, "pages": memory.size, "byte0": memory.read(0, 1), "data": memory.read(16, 5),
            "at100": memory.read(100, len(PASSIVE)), "counter": counter.value, "five": five.value,
            "table": [None if e is None else e() for e in (table.get(0), table.get(1))]}


def _expect_initial(state: dict[str, Any], gas: int) -> None:
    assert state == {"pages": 1, "byte0": b"\xaa", "data": b"hello", "at100": bytes(len(PASSIVE)),
                     "counter": 107, "five": 5, "table": [2, None], "gas": gas}


@pytest.mark.parametrize("metered", VARIANTS)
@pytest.mark.parametrize("source", SOURCES)
def test_nothing_of_one_instance_reaches_the_next(source: Callable[[bool], wasm.CompiledModule],
                                                  metered: bool) -> None:
    compiled = source(metered)
    limit = GAS if metered else None
    first = wasm.instantiate(compiled, _imports(), gas_limit=limit)
    setup_gas = first.gas_used
    _expect_initial(_fresh_state(first), setup_gas)
    assert first.exports["use_passive"]() == 1  # the passive segments work before they are dropped
    first.exports["mutate"]()
    changed = _fresh_state(first)
    assert (changed["pages"], changed["data"], changed["counter"]) == (2, b"\xffello", 999)
    assert changed["table"] == [2, 1]
    with pytest.raises(wasm.Trap):
        first.exports["use_passive"]()  # dropped: memory.init of a dropped segment traps
    used = first.gas_used

    second = wasm.instantiate(compiled, _imports(), gas_limit=limit)
    _expect_initial(_fresh_state(second), setup_gas)  # start ran again, on the module's initial state
    assert second.exports["use_passive"]() == 1  # its segments are not dropped
    assert second.exports["memory"].read(100, len(PASSIVE)) == PASSIVE  # type: ignore[union-attr]
    assert first.gas_used == used and _fresh_state(first)["pages"] == 2  # the first is left as it was
    for inst in (first, second):
        inst.release()


@pytest.mark.parametrize("metered", VARIANTS)
def test_a_trap_mid_call_leaves_nothing_for_the_next_instance(metered: bool) -> None:
    compiled = _compiled(metered)
    limit = GAS if metered else None
    first = wasm.instantiate(compiled, _imports(), gas_limit=limit)
    setup_gas = first.gas_used
    with pytest.raises(wasm.Trap) as raised:
        first.exports["trap_midway"]()
    assert raised.value.kind is wasm.TrapKind.UNREACHABLE
    assert _fresh_state(first)["pages"] == 3  # the trapped call's effects stay in its own instance
    first.release()
    second = wasm.instantiate(compiled, _imports(), gas_limit=limit)
    _expect_initial(_fresh_state(second), setup_gas)
    second.release()


def test_gas_exhausted_in_one_instance_is_not_carried_to_the_next() -> None:
    compiled = _compiled(True)
    first = wasm.instantiate(compiled, _imports(), gas_limit=GAS)
    setup_gas = first.gas_used
    starved = wasm.instantiate(compiled, _imports(), gas_limit=setup_gas)  # just enough to start
    with pytest.raises(wasm.GasExhausted):
        starved.exports["mutate"]()
    starved.release()
    again = wasm.instantiate(compiled, _imports(), gas_limit=GAS)
    _expect_initial(_fresh_state(again), setup_gas)
    costs = []
    for inst in (again, first):
        before = inst.gas_used
        inst.exports["mutate"]()
        costs.append(inst.gas_used - before)
    assert costs[0] == costs[1]  # each meter counts its own instance's work only
    for inst in (first, again):
        inst.release()


def test_instances_of_one_module_link_their_own_host_functions() -> None:
    compiled = _compiled(True)
    logs: list[list[int]] = [[], []]
    first = wasm.instantiate(compiled, _imports(logs[0]), gas_limit=GAS)
    second = wasm.instantiate(compiled, _imports(logs[1]), gas_limit=GAS)
    assert first.exports["note_next"](1) == 4 and second.exports["note_next"](10) == 22
    assert logs == [[2], [11]]

    seen: list[tuple[int, int]] = []

    def with_caller(caller: wasm.Caller, value: int) -> int:
        memory = caller.memory
        assert memory is not None
        seen.append((value, memory.read(0, 1)[0]))
        return -value
    third = wasm.instantiate(compiled, {"env": {"note": wasm.host(with_caller)}}, gas_limit=GAS)
    fourth = wasm.instantiate(compiled, {"env": {"note": wasm.host(with_caller)}}, gas_limit=GAS)
    third.exports["memory"].write(0, b"\x03")  # type: ignore[union-attr]
    assert third.exports["note_next"](4) == -5 and fourth.exports["note_next"](6) == -7
    assert seen == [(5, 3), (7, 0xAA)]  # each call saw its own instance's memory
    assert first.exports["note_next"](2) == 6 and logs[0] == [2, 3]  # the first kept its own import
    for inst in (first, second, third, fourth):
        inst.release()


def test_an_imported_function_may_be_another_instance_s_export() -> None:
    b = ModuleBuilder()
    b.func(["i32"], ["i32"], [(O.LOCAL_GET, 0), (O.I32_CONST, 1000), O.I32_ADD], export="note")
    provider = wasm.instantiate(wasm.decode(b.build()))
    compiled = _compiled(False)
    linked = wasm.instantiate(compiled, {"env": provider.exports})
    plain = wasm.instantiate(compiled, _imports())
    assert linked.exports["note_next"](1) == 1002 and plain.exports["note_next"](1) == 4
    wrong = ModuleBuilder()
    wrong.func(["i64"], ["i64"], [(O.LOCAL_GET, 0)], export="note")
    with pytest.raises(wasm.LinkError):
        wasm.instantiate(compiled, {"env": wasm.instantiate(wasm.decode(wrong.build())).exports})
    for inst in (linked, plain, provider):
        inst.release()


def test_a_re_exported_host_function_belongs_to_each_instance() -> None:
    b = ModuleBuilder()
    b.import_func("env", "f", ["i32"], ["i32"])
    b.memory(1, export="memory")
    b.export("f", wasm.ExternKind.FUNC, 0)
    compiled = wasm.compile(wasm.decode(b.build()), metered=False)

    def first_byte(caller: wasm.Caller, value: int) -> int:
        memory = caller.memory
        assert memory is not None
        return value + memory.read(0, 1)[0]
    imports = {"env": {"f": wasm.host(first_byte)}}
    one, two = wasm.instantiate(compiled, imports), wasm.instantiate(compiled, imports)
    one.exports["memory"].write(0, b"\x09")  # type: ignore[union-attr]
    assert one.exports["f"](1) == 10 and two.exports["f"](1) == 1
    assert one.exports["f"] is not two.exports["f"]


def test_each_import_value_is_checked_and_bound_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = prepared_module.host_entry

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(fn)
        return real(fn, *args, **kwargs)
    monkeypatch.setattr(prepared_module, "host_entry", counting)
    compiled = _compiled(True)
    imports, other = _imports(), _imports()
    for source in (imports, imports, imports, other, other, imports):
        wasm.instantiate(compiled, source, gas_limit=GAS).release()
    assert made == [imports["env"]["note"], other["env"]["note"], imports["env"]["note"]]
    assert prepared_module.prepared(compiled) is prepared_module.prepared(compiled)


def test_a_missing_import_is_refused_every_time() -> None:
    compiled = _compiled(False)
    wasm.instantiate(compiled, _imports()).release()
    for imports in ({}, {"env": {}}, {"env": {"note": 3}}):
        with pytest.raises(wasm.LinkError):
            wasm.instantiate(compiled, imports)


def test_segments_placed_by_an_imported_global_follow_each_instance_s_import() -> None:
    b = ModuleBuilder()
    b.imports.append(b"\x03env\x04base\x03\x7f\x00")  # (import "env" "base" (global i32))
    b.memory(1, export="memory")
    b.table(4, export="table")
    target = b.func([], ["i32"], [(O.I32_CONST, 42)])
    b.elem([(O.GLOBAL_GET, 0)], [target])
    b.data([(O.GLOBAL_GET, 0)], b"here")
    compiled = wasm.compile(wasm.decode(b.build()), metered=False)
    at2 = wasm.instantiate(compiled, {"env": {"base": wasm.Global("i32", 2)}})
    at3 = wasm.instantiate(compiled, {"env": {"base": wasm.Global("i32", 3)}})
    assert at2.exports["memory"].read(0, 8) == b"\0\0here\0\0"  # type: ignore[union-attr]
    assert at3.exports["memory"].read(0, 8) == b"\0\0\0here\0"  # type: ignore[union-attr]
    assert at2.exports["table"].get(2)() == 42 and at3.exports["table"].get(2) is None  # type: ignore[union-attr,misc]
    with pytest.raises(wasm.Trap):  # out of bounds at this offset: a trap, every time
        wasm.instantiate(compiled, {"env": {"base": wasm.Global("i32", 65534)}})


def test_an_out_of_bounds_segment_fails_every_instantiation() -> None:
    b = ModuleBuilder()
    b.memory(1)
    b.data([(O.I32_CONST, 65534)], b"toolong")
    compiled = wasm.compile(wasm.decode(b.build()), metered=True)
    for _ in range(2):
        with pytest.raises(wasm.Trap):
            wasm.instantiate(compiled, gas_limit=GAS)


def test_a_lazily_compiled_module_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    eager = _compiled(True)
    monkeypatch.setattr(compiled_module, "EAGER_CODE_BYTES", 0)  # every function compiled on first call
    lazy = _compiled(True)
    assert not lazy.codes
    outcomes = []
    for compiled in (eager, lazy, lazy):  # the second lazy instance finds some functions compiled
        inst = wasm.instantiate(compiled, _imports(), gas_limit=GAS)
        state = _fresh_state(inst)
        outcomes.append((state, inst.exports["note_next"](5), inst.exports["use_passive"](), inst.gas_used))
        inst.release()
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_the_prepared_state_goes_with_its_compiled_module() -> None:
    compiled, imports = _compiled(False), _caller_imports()
    for _ in range(3):
        wasm.instantiate(compiled, imports).release()
    assert maker_module.maker_for(prepared_module.prepared(compiled)) is not None  # it holds a maker too
    key = id(compiled)
    assert key in prepared_module._PREPARED
    del compiled
    assert key not in prepared_module._PREPARED  # freed by reference counting, its entry with it


def test_an_import_replaced_in_the_same_mapping_is_linked_anew() -> None:
    compiled = _compiled(True)
    seen: list[str] = []

    def old(caller: wasm.Caller, value: int) -> int:
        seen.append("old")
        return value

    def new(caller: wasm.Caller, value: int) -> int:
        seen.append("new")
        return -value
    imports: dict[str, dict[str, Any]] = {"env": {"note": wasm.host(old)}}
    for _ in range(3):  # the same objects: the later instances link them in one pass
        inst = wasm.instantiate(compiled, imports, gas_limit=GAS)
        assert inst.exports["note_next"](1) == 2
        inst.release()
    imports["env"]["note"] = wasm.host(new)  # the same dicts, another value
    inst = wasm.instantiate(compiled, imports, gas_limit=GAS)
    assert inst.exports["note_next"](1) == -2
    del imports["env"]["note"]
    with pytest.raises(wasm.LinkError, match="note"):
        wasm.instantiate(compiled, imports, gas_limit=GAS)
    assert seen == ["old", "old", "old", "new"]


def _caller_imports() -> dict[str, dict[str, Any]]:
    """The pool's shape: a host function taking the caller (what instance makers are written for)."""
    def note(caller: wasm.Caller, value: int) -> int:
        memory = caller.memory
        assert memory is not None
        return value * 2 + memory.read(0, 1)[0]
    return {"env": {"note": wasm.host(note)}}


def _run_through(compiled: wasm.CompiledModule, imports: dict[str, dict[str, Any]],
                 limit: int | None) -> list[Any]:
    """Everything observable of a fresh instance before and after each export."""
    inst = wasm.instantiate(compiled, imports, gas_limit=limit)
    seen: list[Any] = [_fresh_state(inst), inst.exports["note_next"](3), inst.exports["use_passive"]()]
    inst.exports["mutate"]()
    seen.append(_fresh_state(inst))
    with pytest.raises(wasm.Trap) as raised:
        inst.exports["trap_midway"]()
    seen += [raised.value.kind, _fresh_state(inst), inst.gas_used, sorted(inst.exports)]
    inst.release()
    return seen


@pytest.mark.parametrize("metered", VARIANTS)
def test_the_written_out_maker_makes_what_the_general_path_makes(metered: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    limit = GAS if metered else None
    compiled, imports = _compiled(metered), _caller_imports()
    with_maker = [_run_through(compiled, imports, limit) for _ in range(3)]  # the 2nd and 3rd: the maker
    assert maker_module.maker_for(prepared_module.prepared(compiled)) is not None
    monkeypatch.setattr(instance_module, "maker_for", lambda prep: None)
    general = [_run_through(_compiled(metered), imports, limit) for _ in range(3)]
    assert with_maker[0] == with_maker[1] == with_maker[2] == general[0] == general[2]
    assert with_maker[0][0]["byte0"] == b"\xaa" and with_maker[0][1] == 3 * 2 + 2 + 0xAA


def test_a_maker_falls_back_when_the_host_functions_change() -> None:
    compiled = _compiled(True)
    first, second = _caller_imports(), _caller_imports()
    for imports in (first, first, first):
        wasm.instantiate(compiled, imports, gas_limit=GAS).release()
    made_for_first = maker_module.maker_for(prepared_module.prepared(compiled))
    assert made_for_first is not None
    inst = wasm.instantiate(compiled, second, gas_limit=GAS)  # other objects: linked by the general path
    assert inst.exports["note_next"](1) == 2 * 2 + 0xAA
    with pytest.raises(wasm.LinkError):
        wasm.instantiate(compiled, {"env": {}}, gas_limit=GAS)
    again = wasm.instantiate(compiled, second, gas_limit=GAS)  # a maker for the new ones
    assert again.exports["note_next"](1) == 2 * 2 + 0xAA
    assert maker_module.maker_for(prepared_module.prepared(compiled)) not in (None, made_for_first)
    for instance in (inst, again):
        instance.release()
