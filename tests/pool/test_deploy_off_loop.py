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
from wasmpool.wire import errors

FUNCTIONS, OPS = 100, 1000  # about 300 KB of code: over validate_inline, seconds to validate


def leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def section(ident: int, payload: bytes) -> bytes:
    return bytes([ident]) + leb128(len(payload)) + payload


def heavy_module(functions: int = FUNCTIONS, ops: int = OPS) -> bytes:
    """``functions`` bodies of ``ops`` (i32.const 0, drop) each: valid, and slow to validate."""
    body = b"\x00" + b"\x41\x00\x1a" * ops + b"\x0b"
    code = leb128(functions) + (leb128(len(body)) + body) * functions
    return (b"\x00asm\x01\x00\x00\x00" + section(1, b"\x01\x60\x00\x00")
            + section(3, leb128(functions) + b"\x00" * functions) + section(10, code))


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


