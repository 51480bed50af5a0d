"""The host ABI on the real engine, in process: prices, limits, read caching, import checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.worker.host import ABI, CallContext, CallState, Host, HostGas, HostLimits, check_imports

FIXTURES = Path(__file__).parent / "fixtures"
GAS = 10_000_000


class DictState:
    """Committed state as a dict, counting reads (a StateReader)."""

    def __init__(self, values: dict[bytes, bytes] | None = None) -> None:
        self.values = values or {}
        self.reads: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.reads.append(key)
        return self.values.get(key)


@pytest.fixture(scope="module")
def probe() -> wasm.Module:
    return wasm.decode((FIXTURES / "probe.wasm").read_bytes())


def run(module: wasm.Module, function: str, *args: Any, host: Host | None = None, input: bytes = b"",
        state: DictState | None = None, readonly: bool = False,
        context: CallContext | None = None) -> tuple[Any, CallState, int]:
    """Call ``function`` with a fresh CallState; returns (result, call state, gas used)."""
    host = host or Host()
    call = CallState(reader=state or DictState(), input=input, readonly=readonly,
                     context=context or CallContext())
    host.begin(call)
    try:
        instance = wasm.instantiate(module, imports=host.imports(), gas_limit=GAS)
        result = instance.exports[function](*args)
    finally:
        host.end()
    return result, call, instance.gas_used


def raised(module: wasm.Module, function: str, **options: Any) -> BaseException:
    with pytest.raises(BaseException) as caught:
        run(module, function, **options)
    return caught.value


def root(exc: BaseException) -> BaseException:
    """The innermost cause (the engine may wrap a host exception in a Trap)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def test_the_abi_keeps_the_eleven_functions_of_v1_and_adds_iteration() -> None:
    v1 = {"input_len", "get_input", "set_output", "get_state", "put_state", "delete_state", "log", "revert",
          "caller", "block_height", "block_time"}
    crypto = {"sha256", "keccak256", "blake2b256", "ed25519_verify", "secp256k1_verify", "secp256k1_recover"}
    assert v1 | crypto | {"state_scan", "state_next"} <= set(ABI)


@pytest.mark.parametrize("size", [1, 100, 5000])
def test_copies_cost_one_gas_per_byte_each_way(probe: wasm.Module, size: int) -> None:
    _, _, base = run(probe, "echo")
    _, call, used = run(probe, "echo", input=b"x" * size)
    assert call.output == b"x" * size
    assert used - base == 2 * size * HostGas.BYTE  # copied in by get_input, read by set_output


@pytest.mark.parametrize("size", [1, 1000])
def test_stored_bytes_cost_extra(probe: wasm.Module, size: int) -> None:
    _, _, base = run(probe, "put")
    _, call, used = run(probe, "put", input=b"v" * size)
    assert call.writes == {b"k": b"v" * size}
    assert used - base == size * (2 * HostGas.BYTE + HostGas.STORED_BYTE)


def test_a_key_is_read_from_the_broker_once_per_call(probe: wasm.Module) -> None:
    state = DictState({b"k": b"committed"})
    result, call, _ = run(probe, "get", state=state)
    assert (result, call.output, state.reads) == (9, b"committed", [b"k"])
    assert call.seen == {b"k": b"committed"}
    again = CallState(reader=state)
    assert again.read(b"k") == again.read(b"k") == b"committed" and state.reads == [b"k", b"k"]


def test_own_writes_are_read_without_asking_the_broker(probe: wasm.Module) -> None:
    state = DictState({b"k": b"old"})
    result, call, _ = run(probe, "own_write", state=state)
    assert (result, call.output, state.reads) == (4, b"mine", [])


def test_a_deleted_key_reads_absent_within_the_call() -> None:
    call = CallState(reader=DictState({b"k": b"v"}))
    call.writes[b"k"] = None
    assert call.read(b"k") is None


def test_context_reaches_the_contract(probe: wasm.Module) -> None:
    context = CallContext(caller=b"bob", height=5, time=77)
    assert run(probe, "whoami", context=context)[1].output == b"bob"
    assert run(probe, "height", context=context)[0] == 5
    assert run(probe, "time", context=context)[0] == 77


def test_revert_raises_with_the_message(probe: wasm.Module) -> None:
    exc = root(raised(probe, "write_then_revert"))
    assert isinstance(exc, errors.Revert) and str(exc) == "nope"


def test_a_query_write_is_refused(probe: wasm.Module) -> None:
    exc = root(raised(probe, "put", readonly=True))
    assert isinstance(exc, errors.ReadOnlyViolation)


LIMIT_BREACHES = {
    "key": (HostLimits(key=0), "put", "exceed the limit of 0"),
    "value": (HostLimits(value=3), "put", "exceed the limit of 3"),
    "output": (HostLimits(output=3), "echo", "exceed the limit of 3"),
    "log-count": (HostLimits(logs=1), "logs", "more than 1 log entries"),
    "writes": (HostLimits(writes=0), "put", "more than 0 keys written"),
}


@pytest.mark.parametrize(("limits", "function", "message"), LIMIT_BREACHES.values(),
                         ids=LIMIT_BREACHES.keys())
def test_a_limit_breach_traps(probe: wasm.Module, limits: HostLimits, function: str, message: str) -> None:
    exc = raised(probe, function, host=Host(limits), input=b"four")
    assert isinstance(exc, wasm.Trap) and message in str(root(exc))


@pytest.mark.parametrize("function", ["bad_pointer", "bad_key"])
def test_a_pointer_outside_memory_traps(probe: wasm.Module, function: str) -> None:
    exc = raised(probe, function)
    assert isinstance(exc, wasm.Trap) and "outside memory" in str(root(exc))


def test_out_of_gas_inside_a_host_call(probe: wasm.Module) -> None:
    host = Host()
    host.begin(CallState(reader=DictState(), input=b"x" * 10_000))
    instance = wasm.instantiate(probe, imports=host.imports(), gas_limit=5_000)
    with pytest.raises(wasm.Trap) as caught:
        instance.exports["echo"]()
    assert isinstance(caught.value, wasm.GasExhausted) or isinstance(root(caught.value), wasm.GasExhausted)


def test_a_host_function_outside_a_call_traps(probe: wasm.Module) -> None:
    host = Host()
    instance = wasm.instantiate(probe, imports=host.imports(), gas_limit=GAS)
    with pytest.raises(wasm.Trap):
        instance.exports["input_len"]()


@pytest.mark.parametrize(("name", "message"), [("bad_import", "launch_missiles is not a function"),
                                               ("bad_signature", "env.log must be imported as")])
def test_imports_outside_the_abi_are_refused(name: str, message: str) -> None:
    module = wasm.decode((FIXTURES / f"{name}.wasm").read_bytes())
    with pytest.raises(wasm.LinkError, match=message):
        check_imports(module)


def test_the_example_contracts_import_only_the_abi() -> None:
    for name in ("token", "counter"):
        check_imports(wasm.decode((FIXTURES.parents[2] / "examples" / f"{name}.wasm").read_bytes()))
