"""Gas metering: costs from the opcode table, deterministic exhaustion, dynamic charges.

The expected costs are written as the instructions that run, priced by
``OPS[op].gas`` (see ``worker/wasm/runtime/gas.py`` for when each is charged).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm.module import Module
from wasmpool.wasm.opcodes import BRANCH_VALUE_GAS, BULK_UNIT, GROW_PAGE_GAS, HOST_CALL_GAS, OPS, Opcode

ENGINE = FIXTURES / "engine"
OP = Opcode


def cost(*ops: Opcode) -> int:
    return sum(OPS[op].gas for op in ops)


@pytest.fixture(scope="module")
def module() -> Module:
    return wasm.decode((ENGINE / "gas.wasm").read_bytes())


@pytest.fixture()
def metered(module: Module) -> Callable[..., wasm.Instance]:
    def make(limit: int = 10**9, charge: Callable[..., None] | None = None) -> wasm.Instance:
        host = wasm.host(charge or (lambda caller, n: None))
        return wasm.instantiate(module, {"host": {"charge": host}}, gas_limit=limit)
    return make


def used(instance: wasm.Instance, export: str, *args: int) -> int:
    before = instance.gas_used
    instance.exports[export](*args)
    return instance.gas_used - before


# ---------------------------------------------------------------- exact costs


def test_straight_line_function(metered: Callable[..., wasm.Instance]) -> None:
    assert used(metered(), "add", 1, 2) == cost(OP.LOCAL_GET, OP.LOCAL_GET, OP.I32_ADD, OP.END)


def test_a_taken_branch_skips_the_ends_it_jumps_over(metered: Callable[..., wasm.Instance]) -> None:
    head = (OP.BLOCK, OP.BLOCK, OP.I32_CONST, OP.LOCAL_GET, OP.I32_EQZ, OP.BR_IF)
    carried = BRANCH_VALUE_GAS  # the br_if carries one value, taken or not
    assert used(metered(), "early", 0) == cost(*head, OP.END) + carried
    fall = (OP.DROP, OP.I32_CONST, OP.END, OP.DROP, OP.I32_CONST, OP.END, OP.END)
    assert used(metered(), "early", 1) == cost(*head, *fall) + carried


@pytest.mark.parametrize("n", [1, 2, 10, 100])
def test_loop_iterations(metered: Callable[..., wasm.Instance], n: int) -> None:
    body = (OP.LOCAL_GET, OP.I32_CONST, OP.I32_ADD, OP.LOCAL_SET,
            OP.LOCAL_GET, OP.LOCAL_GET, OP.I32_LT_U, OP.BR_IF)
    assert used(metered(), "count", n) == cost(OP.LOOP) + n * cost(*body) + cost(OP.END, OP.LOCAL_GET, OP.END)


def test_call_charges_the_callee_too(metered: Callable[..., wasm.Instance]) -> None:
    callee = cost(OP.LOCAL_GET, OP.LOCAL_GET, OP.I32_ADD, OP.END)
    assert used(metered(), "call_add") == cost(OP.I32_CONST, OP.I32_CONST, OP.CALL, OP.END) + callee


@pytest.mark.parametrize(("arg", "arm"), [
    (0, (OP.I32_CONST, OP.END)),
    (5, (OP.LOCAL_GET, OP.I32_CONST, OP.I32_ADD, OP.END)),
], ids=["else-arm", "then-arm"])
def test_a_direct_call_charges_the_same_total(metered: Callable[..., wasm.Instance], arg: int,
                                              arm: tuple[Opcode, ...]) -> None:
    """``$pick`` is not exported: its entry is paid at the call site, its totals do not change."""
    caller = cost(OP.LOCAL_GET, OP.CALL, OP.END)
    callee = cost(OP.LOCAL_GET, OP.IF, *arm, OP.END)
    assert used(metered(), "call_pick", arg) == caller + callee


def test_direct_recursion_ends_with_gas_exhausted(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered(limit=100_000)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["direct_rec"](1)
    stretch = cost(OP.LOCAL_GET, OP.CALL, OP.END)  # what one level of $down pays
    assert 100_000 <= instance.gas_used < 100_000 + stretch


def test_gas_used_counts_up_to_a_trap(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered()
    with pytest.raises(wasm.Trap) as raised:
        instance.exports["loop_then_trap"](10)
    assert raised.value.kind is wasm.TrapKind.UNREACHABLE
    body = (OP.LOCAL_GET, OP.I32_CONST, OP.I32_SUB, OP.LOCAL_SET, OP.LOCAL_GET, OP.BR_IF)
    assert instance.gas_used == cost(OP.LOOP) + 10 * cost(*body) + cost(OP.END, OP.UNREACHABLE)


# ---------------------------------------------------------------- dynamic charges


def test_memory_grow_is_charged_per_page(metered: Callable[..., wasm.Instance]) -> None:
    base = cost(OP.LOCAL_GET, OP.MEMORY_GROW, OP.END)
    instance = metered()
    assert used(instance, "grow", 1) == base + GROW_PAGE_GAS
    assert used(instance, "grow", 3) == base + 3 * GROW_PAGE_GAS
    assert used(instance, "grow", 0) == base
    assert used(instance, "grow", 100) == base  # refused: no page granted, none charged


@pytest.mark.parametrize("n", [0, 1, 64, 65, 1000])
def test_bulk_fill_is_charged_per_started_unit(metered: Callable[..., wasm.Instance], n: int) -> None:
    base = cost(OP.I32_CONST, OP.I32_CONST, OP.LOCAL_GET, OP.MEMORY_FILL, OP.END)
    assert used(metered(), "fill", n) == base + -(-n // BULK_UNIT)


def test_host_functions_charge_through_the_caller(metered: Callable[..., wasm.Instance]) -> None:
    def charge(caller: wasm.Caller, amount: int) -> None:
        caller.gas.charge(amount)

    instance = metered(charge=charge)
    assert used(instance, "host", 500) == cost(OP.LOCAL_GET, OP.CALL, OP.END) + HOST_CALL_GAS + 500


def test_a_host_charge_past_the_limit_is_gas_exhausted(metered: Callable[..., wasm.Instance]) -> None:
    def charge(caller: wasm.Caller, amount: int) -> None:
        caller.gas.charge(amount)

    instance = metered(limit=1000, charge=charge)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["host"](5000)
    assert instance.gas_used > 1000


# ---------------------------------------------------------------- exhaustion


@pytest.mark.timeout(30)
def test_an_infinite_loop_ends_with_gas_exhausted(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered(limit=100_000)
    with pytest.raises(wasm.GasExhausted) as raised:
        instance.exports["spin"]()
    assert raised.value.kind is wasm.TrapKind.GAS_EXHAUSTED
    assert 100_000 <= instance.gas_used <= 100_000 + 2


@pytest.mark.timeout(30)
def test_infinite_recursion_ends_with_gas_exhausted(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered(limit=50_000)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["rec"](0)


@pytest.mark.parametrize(("export", "args"), [("spin", ()), ("count", (10**6,)), ("rec", (0,))])
def test_exhaustion_is_deterministic(metered: Callable[..., wasm.Instance], export: str,
                                     args: tuple[int, ...]) -> None:
    seen = set()
    for _ in range(3):
        instance = metered(limit=20_000)
        with pytest.raises(wasm.GasExhausted):
            instance.exports[export](*args)
        seen.add(instance.gas_used)
    assert len(seen) == 1 and seen.pop() >= 20_000


def test_an_exhausted_instance_stays_exhausted(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered(limit=1000)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["spin"]()
    with pytest.raises(wasm.GasExhausted):
        instance.exports["add"](1, 2)


# ---------------------------------------------------------------- unmetered


def test_no_metering_without_a_limit(module: Module) -> None:
    instance = wasm.instantiate(module, {"host": {"charge": lambda n: None}})
    assert instance.exports["count"](1000) == 1000
    assert instance.gas_used == 0 and instance.gas_limit is None
    code = instance.exports["count"].fn.__code__
    assert "gas" not in code.co_varnames and "G" not in code.co_names


def test_metered_code_keeps_gas_in_a_local(metered: Callable[..., wasm.Instance]) -> None:
    code = metered().exports["count"].fn.__code__
    assert "gas" in code.co_varnames


def test_metered_functions_share_the_instance_gas_cell(metered: Callable[..., wasm.Instance]) -> None:
    instance = metered()
    fn = instance.exports["count"].fn
    assert fn.__code__.co_freevars == ("GAS",)
    assert fn.__closure__ is not None and fn.__closure__[0] is instance.meter.cell
    instance.exports["count"](10)
    assert instance.meter.cell.cell_contents == 10**9 - instance.gas_used > 0
