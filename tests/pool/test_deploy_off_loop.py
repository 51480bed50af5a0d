"""A big module is validated off the broker's loop: calls and heartbeats flow while it is checked.

Real broker, real worker processes, real sockets: one client deploys a
module whose validation takes seconds (many function bodies), and while the
broker says it is validating it, another client's calls are answered and no
worker is lost. A module that fails validation off the loop gets the same
typed ``InvalidModule`` as one checked inline.
"""

from __future__ import annotations

import threading

from tests.pool.chaos import wait_until
from tests.pool.conftest import Pool, unique
from wasmpool.client import Client
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wire import errors

FUNCTIONS, OPS = 100, 1000  # about 300 KB of code: over validate_inline, seconds to validate


def heavy_module(functions: int = FUNCTIONS, ops: int = OPS) -> bytes:
    """``functions`` bodies of ``ops`` (i32.const 0, drop) each: valid, and slow to validate."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")  # the host ABI's memory, which a deploy must export
    for _ in range(functions):
        builder.func(raw_body=bytes([Opcode.I32_CONST, 0, Opcode.DROP]) * ops)
    return builder.build()


def deploy_in_background(pool: Pool, module: bytes) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        with Client(pool.frontend, timeout=120.0, retries=0) as mine:
            try:
                out.append(mine.deploy(module))
            except errors.PoolError as exc:
                out.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_calls_are_answered_while_a_big_module_is_validated(pool: Pool, client: Client, probe: str) -> None:
    workers = client.stats()["workers"]
    thread, out = deploy_in_background(pool, unique(heavy_module()))
    wait_until(lambda: client.stats()["validating"] == 1, "the deploy handed to the validating process")
    for x in range(5):
        assert client.call(probe, "add", [x, 1]).results == [x + 1]
        stats = client.stats()
        assert stats["validating"] == 1 and stats["workers"] == workers  # still validating; nobody lost
    thread.join(120)
    (code_id,) = out
    assert isinstance(code_id, str) and client.stats()["validating"] == 0
    assert client.call(code_id, "nothing").status == "error"  # stored: it runs (no such export)


def test_an_invalid_big_module_is_refused_with_the_engines_reason(pool: Pool) -> None:
    broken = heavy_module()[:-1]  # the last body loses its end
    thread, out = deploy_in_background(pool, broken)
    thread.join(120)
    (refused,) = out
    assert isinstance(refused, errors.InvalidModule) and "invalid module" in str(refused)


