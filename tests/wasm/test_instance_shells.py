"""Shells: what an instance maker made for one instance, taken over by the next after a release.

A shell (``runtime.maker``) is the namespace with its functions and host
bindings. These tests check that a released instance's shell really is
taken over, and that taking it over shows the next instance nothing of the
last: its memory, tables, globals, segments and gas start from the module's
own, its host functions see their own caller, the released instance's
functions stay dead and its gas readable, an idle shell holds no memory, a
shell whose functions another instance linked to is never reused, and
threads making instances of one module at once never share one.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime import maker as maker_module
from wasmpool.wasm.runtime import prepared as prepared_module

from .test_instance_setup import STATEFUL, _caller_imports, _expect_initial, _fresh_state

GAS = 10**7
VARIANTS = [pytest.param(False, id="unmetered"), pytest.param(True, id="metered")]


def _made(metered: bool) -> tuple[wasm.CompiledModule, dict[str, dict[str, Any]], int | None]:
    """A compiled module whose next instances come from its maker (the first one made it)."""
    compiled, imports = wasm.compile(STATEFUL, metered=metered), _caller_imports()
    limit = GAS if metered else None
    wasm.instantiate(compiled, imports, gas_limit=limit).release()
    assert maker_module.maker_for(prepared_module.prepared(compiled)) is not None
    return compiled, imports, limit


def _function_names(inst: wasm.Instance) -> dict[str, Any]:
    """The instance's own raw callables (``f{i}``), by name: what a shell carries over."""
    return {name: value for name, value in inst.ns.items() if name[0] == "f" and name[1:].isdigit()}


@pytest.mark.parametrize("metered", VARIANTS)
def test_a_released_instance_s_shell_is_taken_over_by_the_next(metered: bool) -> None:
    compiled, imports, limit = _made(metered)
    first = wasm.instantiate(compiled, imports, gas_limit=limit)
    shell = first.shell
    assert shell is not None
    functions = _function_names(first)
    first.release()
    assert first.shell is None and first.ns == {}
    second = wasm.instantiate(compiled, imports, gas_limit=limit)
    assert second.shell is shell and second.ns is shell.ns
    assert all(second.ns[name] is fn for name, fn in functions.items())
    third = wasm.instantiate(compiled, imports, gas_limit=limit)  # the shell is taken: a new one
    assert third.shell is not shell and third.ns is not second.ns
    for inst in (second, third):
        inst.release()


@pytest.mark.parametrize("metered", VARIANTS)
def test_the_next_instance_starts_from_the_module_s_own_state(metered: bool) -> None:
    compiled, imports, limit = _made(metered)
    setup_gas = None
    for _ in range(4):  # each time in the shell the last one left, after it changed every kind of state
        inst = wasm.instantiate(compiled, imports, gas_limit=limit)
        setup_gas = inst.gas_used if setup_gas is None else setup_gas
        _expect_initial(_fresh_state(inst), setup_gas)
        assert inst.exports["note_next"](3) == 3 * 2 + 2 + 0xAA  # the host reads this instance's memory
        assert inst.exports["use_passive"]() == 1
        inst.exports["mutate"]()  # grows memory, sets the global and a table slot, drops both segments
        changed = _fresh_state(inst)
        assert (changed["pages"], changed["data"], changed["counter"], changed["table"]) == (
            2, b"\xffello", 999, [2, 1])
        with pytest.raises(wasm.Trap):
            inst.exports["trap_midway"]()  # a trap half way through: its effects stay in this instance
        inst.release()


def test_each_instance_s_host_functions_see_their_own_caller() -> None:
    compiled, imports, limit = _made(True)
    first = wasm.instantiate(compiled, imports, gas_limit=limit)
    first.exports["memory"].write(0, b"\x01")  # type: ignore[union-attr]
    assert first.exports["note_next"](3) == 3 * 2 + 2 + 1
    first.release()
    second = wasm.instantiate(compiled, imports, gas_limit=limit)  # in the first one's shell
    assert second.exports["note_next"](3) == 3 * 2 + 2 + 0xAA
    second.exports["memory"].write(0, b"\x02")  # type: ignore[union-attr]
    assert second.exports["note_next"](3) == 3 * 2 + 2 + 2
    second.release()


def test_a_released_instance_keeps_its_gas_and_its_functions_stay_dead() -> None:
    compiled, imports, _ = _made(True)
    first = wasm.instantiate(compiled, imports, gas_limit=GAS)
    note_next = first.exports["note_next"]
    assert isinstance(note_next, wasm.Function)
    note_next(1)
    used = first.gas_used
    first.release()
    second = wasm.instantiate(compiled, imports, gas_limit=GAS // 2)  # in the first one's shell
    assert second.gas_limit == GAS // 2 and second.gas_used < used
    for _ in range(50):
        second.exports["note_next"](1)
    assert first.gas_used == used  # the shell's gas cell is the second's now, not the first's
    with pytest.raises(wasm.LinkError):
        note_next(1)
    second.release()


def test_the_next_instance_runs_out_of_its_own_gas() -> None:
    compiled, imports, _ = _made(True)
    rich = wasm.instantiate(compiled, imports, gas_limit=GAS)
    setup_gas = rich.gas_used
    rich.release()
    poor = wasm.instantiate(compiled, imports, gas_limit=setup_gas)  # in the rich one's shell: just enough
    with pytest.raises(wasm.GasExhausted):
        poor.exports["mutate"]()
    poor.release()
    again = wasm.instantiate(compiled, imports, gas_limit=GAS)  # the exhausted shell, refilled
    again.exports["mutate"]()
    assert 0 < again.gas_used < GAS
    again.release()


def test_an_idle_shell_holds_no_instance_s_memory_or_tables() -> None:
    compiled, imports, limit = _made(False)
    inst = wasm.instantiate(compiled, imports, gas_limit=limit)
    shell = inst.shell
    assert shell is not None
    held = {name: shell.ns[name] for name in ("M", "MEM", "t0", "T0", "E")}
    assert held["MEM"] is inst.exports["memory"] and held["T0"] is inst.exports["table"]
    inst.release()
    assert all(shell.ns[name] is None for name in held)
    assert shell.caller is not None and shell.caller.instance is None


def test_a_maker_keeps_a_bounded_number_of_idle_shells() -> None:
    compiled, imports, limit = _made(False)
    count = maker_module.MAX_IDLE_SHELLS + 4
    live = [wasm.instantiate(compiled, imports, gas_limit=limit) for _ in range(count)]
    shells = [inst.shell for inst in live]  # held here: no id is reused while the test runs
    assert len({id(shell) for shell in shells}) == count  # every live instance has its own
    for inst in live:
        inst.release()
    again = [wasm.instantiate(compiled, imports, gas_limit=limit) for _ in range(count)]
    reused = sum(any(inst.shell is shell for shell in shells) for inst in again)
    assert reused == maker_module.MAX_IDLE_SHELLS
    for inst in again:
        inst.release()


def _provider() -> wasm.CompiledModule:
    """A module with no imports (it has a maker) exporting ``note`` over its own global."""
    b = ModuleBuilder()
    total = b.global_("i32", True, [(O.I32_CONST, 0)])
    b.func(["i32"], ["i32"], [(O.GLOBAL_GET, total), (O.LOCAL_GET, 0), O.I32_ADD, (O.GLOBAL_SET, total),
                              (O.GLOBAL_GET, total)], export="note")
    return wasm.compile(wasm.decode(b.build()), metered=False)


def test_a_shell_another_instance_linked_to_is_never_reused() -> None:
    provider_module = _provider()
    wasm.instantiate(provider_module).release()  # its maker made
    provider = wasm.instantiate(provider_module)
    assert provider.shell is not None
    shell = provider.shell
    consumer = wasm.instantiate(wasm.compile(STATEFUL, metered=False), {"env": provider.exports})
    assert provider.shell is None  # linked: its raw callable is bound in the consumer
    assert consumer.exports["note_next"](1) == 2
    provider.release()
    fresh = wasm.instantiate(provider_module)
    assert fresh.shell is not shell and fresh.ns is not shell.ns
    assert fresh.exports["note"](5) == 5
    with pytest.raises(NameError):  # the released provider's code, in its emptied namespace
        consumer.exports["note_next"](1)
    assert fresh.exports["note"](5) == 10  # the consumer's call did not reach the fresh instance
    for inst in (fresh, consumer):
        inst.release()


def test_threads_making_instances_of_one_module_never_share_a_shell() -> None:
    compiled, imports, limit = _made(True)
    failures: list[BaseException] = []
    in_use: set[int] = set()
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(150):
                inst = wasm.instantiate(compiled, imports, gas_limit=limit)
                with lock:
                    assert id(inst.shell) not in in_use
                    in_use.add(id(inst.shell))
                memory = inst.exports["memory"]
                assert isinstance(memory, wasm.Memory)
                assert memory.read(0, 1) == b"\xaa"
                inst.exports["mutate"]()
                assert inst.exports["note_next"](1) == 1 * 2 + 2 + 0xAA
                with lock:
                    in_use.discard(id(inst.shell))
                inst.release()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
