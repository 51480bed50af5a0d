"""Gas of the Rust example contracts' calls against the C examples' (figures for sdk/rust/README.md).

For each example call, three figures: the module's bytes; *engine* gas, what
the call costs in the engine with the worker's host ABI (instantiation plus
the code it runs); and *pool* gas, that plus what a call through the pool
pays to load its module (``wasmpool.wire.prices.load_gas``). Gas is
deterministic, so one run is the measurement. State lives in a dict: each
call starts from what the earlier calls of its contract wrote.

    python bench/engine/rust_contract_gas.py
"""

from __future__ import annotations

from pathlib import Path

from wasmpool import wasm
from wasmpool.wire import prices
from wasmpool.worker.host import CallContext, CallState, Host

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GAS = 100_000_000
CALLS = [
    ("token", [("mint", b"alice 100")], "transfer", b"bob 30"),
    ("rust/token", [("instantiate", b""), ("mint", b"alice 100")], "transfer", b"bob 30"),
    ("counter", [], "increment", b""),
    ("rust/counter", [], "increment", b""),
]


class DictState:
    """Committed state as a dict (the StateReader protocol)."""

    def __init__(self, values: dict[bytes, bytes]) -> None:
        self.values = values

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)


def call(compiled: wasm.CompiledModule, state: dict[bytes, bytes], function: str, data: bytes) -> int:
    """Run one call as alice; commits its writes into ``state``; returns its engine gas."""
    host = Host()
    run = CallState(reader=DictState(state), input=data, context=CallContext(caller=b"alice"))
    host.begin(run)
    try:
        instance = wasm.instantiate(compiled, imports=host.imports(), gas_limit=GAS)
        instance.exports[function]()
    finally:
        host.end()
    for key, value in run.writes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return int(instance.gas_used)


def main() -> None:
    wasm.prepare_process()
    print(f"{'module':<26} {'call':<10} {'bytes':>7} {'engine gas':>11} {'pool gas':>10}")
    for name, setup, function, data in CALLS:
        path = EXAMPLES / f"{name}.wasm"
        module = path.read_bytes()
        compiled = wasm.compile(wasm.decode(module), metered=True)
        state: dict[bytes, bytes] = {}
        for before, before_data in setup:
            call(compiled, state, before, before_data)
        engine = call(compiled, state, function, data)
        pool = engine + prices.load_gas(len(module))
        print(f"{'examples/' + name + '.wasm':<26} {function:<10} {len(module):>7} {engine:>11,} {pool:>10,}")


if __name__ == "__main__":
    main()
