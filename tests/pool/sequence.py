"""The fixed sequence the determinism tests run on every pool, and what one run of it recorded.

:func:`play` runs, on one broker: the deploys of four contracts, ordinary
calls, one block of many kinds of calls (:data:`BLOCK`), more ordinary calls
reading what the block wrote, and an empty dry-run block for the state root
at the end. The contracts are the examples (token, counter), the probe
(host calls, logs, context, traps, reverts, out of gas) and the mixer
(hundreds of keys per call, reads of keys earlier calls wrote, float results
kept as bits). Every reply body is recorded as canonical msgpack, in the
order its maps were received (so an order taken from a hash table would
show), and so are the rows the SQLite store committed.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.pool.conftest import EXAMPLES, FIXTURES
from tests.pool.nodes import BrokerCommand, environment_of, worker_pids
from wasmpool.client import Client, block_body, call_body, deploy_exchange
from wasmpool.wire.protocol import Op
from wasmpool.wire.receipts import DEFAULT_GAS_LIMIT, BlockCall, encode

MODULES = {"token": EXAMPLES / "token.wasm", "counter": EXAMPLES / "counter.wasm",
           "probe": FIXTURES / "probe.wasm", "mixer": FIXTURES / "mixer.wasm"}
OWNER = b"own"
CONTEXT = {"caller": b"carol", "height": 7, "time": 1_700_000_000}
NOT_RESULTS = ("attempts",)  # how many executions a call took: the pool's work, not the call's result
BLOCK_TIMEOUT = 120.0
BURN = 1_000_000  # loop iterations of probe.write_then_burn: about 6,000,000 gas, 0.15 s or more


def bits(value: float) -> int:
    """The bits of a float64 as the signed i64 a contract's argument takes."""
    signed: int = struct.unpack("<q", struct.pack("<d", value))[0]
    return signed


def raw(pattern: int) -> int:
    """A 64-bit pattern (a NaN with a payload) as a signed i64."""
    signed: int = struct.unpack("<q", pattern.to_bytes(8, "little"))[0]
    return signed


INF = float("inf")
TWO_NANS = (raw(0x7FF8000000000BAD), raw(0xFFF800000000BEEF))  # two quiet NaNs: whose payload wins
FLOAT_PAIRS = [  # operands of mixer.floats, as bits: NaNs made by arithmetic, NaN payloads, subnormals
    (bits(0.0), bits(INF)),  # 0 * inf: the NaN whose sign differs between CPUs
    (raw(0xFFF4000000000123), bits(1.5)),  # a negative signalling NaN with a payload
    TWO_NANS,
    (bits(-1.0), bits(2.0)),  # sqrt of a negative number
    (1, bits(3.0)),  # the smallest subnormal
    (bits(1e308), bits(-1e308)),  # overflow to infinities
    (bits(-0.0), bits(0.0)),  # signed zeros through min and max
    (bits(2.5), bits(-INF)),  # nearest rounds half to even; inf - -inf
]
CHAIN_PAIRS = [TWO_NANS, FLOAT_PAIRS[0], (bits(1.5), bits(-2.0))]  # operands of mixer.chains


@dataclass(frozen=True)
class Spec:
    """A call of the sequence, naming its contract (code ids are known once deployed)."""

    contract: str
    function: str
    args: tuple[int, ...] = ()
    input: bytes = b""
    context: Mapping[str, Any] = field(default_factory=dict)
    gas: int | None = None
    op: Op = Op.CALL

    def block_call(self, ids: Mapping[str, str]) -> BlockCall:
        return BlockCall(ids[self.contract], self.function, self.args, self.input, dict(self.context),
                         DEFAULT_GAS_LIMIT if self.gas is None else self.gas)

    def body(self, ids: Mapping[str, str]) -> dict[str, Any]:
        return call_body(self.op, ids[self.contract], self.function, list(self.args), self.input,
                         dict(self.context) or None, self.gas, None)

    def __str__(self) -> str:
        return f"{self.op} {self.contract}.{self.function}{self.args} {self.input!r}"


def by(caller: bytes) -> dict[str, Any]:
    return {"caller": caller}


BEFORE = [  # ordinary calls before the block: token and counter only, so the block is the mixer's first use
    Spec("token", "mint", input=OWNER + b" 1000", context=by(OWNER)),  # the first minter owns the token
    Spec("token", "mint", input=b"a1 100", context=by(OWNER)),
    Spec("token", "transfer", input=b"a2 10", context=by(OWNER)),
    Spec("counter", "increment"),
    Spec("counter", "increment"),
]
BLOCK = [
    Spec("probe", "write_then_burn", (BURN,)),  # keeps a worker busy a while (for the kill during the block)
    Spec("mixer", "scatter", (150,), b"alpha"),
    Spec("token", "transfer", input=b"a1 50", context=by(OWNER)),
    Spec("mixer", "scatter", (60,), b"beta"),
    Spec("mixer", "gather", (160,), b"alpha"),  # 150 keys written by the first call, 10 absent
    Spec("token", "transfer", input=b"a3 5", context=by(b"a1")),
    Spec("token", "transfer", input=b"a1 500", context=by(b"a2")),  # insufficient balance: reverted
    Spec("token", "mint", input=b"a4 7", context=by(b"eve")),  # not the owner: reverted
    Spec("counter", "increment"),
    Spec("counter", "increment"),
    Spec("counter", "get"),
    *[Spec("mixer", "floats", pair, b"float-%d" % index) for index, pair in enumerate(FLOAT_PAIRS)],
    *[Spec("mixer", "chains", pair, b"chain-%d" % index) for index, pair in enumerate(CHAIN_PAIRS)],
    Spec("probe", "logs"),
    Spec("probe", "whoami", context=CONTEXT),
    Spec("probe", "height", context=CONTEXT),
    Spec("probe", "time", context=CONTEXT),
    Spec("probe", "put", input=b"from the block"),
    Spec("probe", "write_then_trap"),
    Spec("probe", "write_then_revert"),
    Spec("probe", "write_then_burn", (1_000_000,), gas=5_000),  # out of gas
    Spec("mixer", "scatter", (400,), b"gamma", gas=100_000),  # out of gas after many writes
    Spec("probe", "divide", (1, 0)),  # trap: integer division by zero
    Spec("probe", "get"),
    Spec("mixer", "scatter", (40,), b"alpha"),  # overwrites keys of the first call
    Spec("mixer", "gather", (160,), b"alpha"),
    Spec("token", "balance_of", input=b"a1"),
]
AFTER = [  # ordinary calls after the block, reading what it wrote
    Spec("mixer", "gather", (160,), b"alpha"),
    Spec("mixer", "gather", (70,), b"beta", op=Op.QUERY),
    Spec("mixer", "scatter", (120,), b"delta"),
    Spec("mixer", "floats", FLOAT_PAIRS[0], b"float-after"),
    Spec("mixer", "chains", TWO_NANS, b"chain-after"),
    Spec("mixer", "floats", FLOAT_PAIRS[2], b"float-query", op=Op.QUERY),  # a query may not write: error
    Spec("probe", "get"),
    Spec("probe", "logs"),
    Spec("probe", "write_then_trap"),
    Spec("probe", "write_then_revert"),
    Spec("probe", "write_then_burn", (1_000_000,), gas=5_000),
    Spec("probe", "divide", (1, 0)),
    Spec("token", "transfer", input=b"a3 1", context=by(b"a1")),
    Spec("token", "balance_of", input=b"a3", op=Op.QUERY),
    Spec("token", "total_supply", op=Op.QUERY),
    Spec("counter", "get", op=Op.QUERY),
]


def canonical(body: Mapping[str, Any]) -> bytes:
    """A reply body as msgpack, in the order received, without what only counts the pool's work."""
    return encode({name: value for name, value in body.items() if name not in NOT_RESULTS})


@dataclass
class Run:
    """What one pass of the sequence produced, and what the pool looked like while it ran."""

    records: list[tuple[str, bytes]]
    committed: bytes | None  # the SQLite store's rows after the run (None: a memory store)
    cache_misses: int  # modules the workers did not hold in memory during the run
    tiers: dict[str, int]  # modules loaded during the run, by where from: memory, disk, compile; preloaded
    seeds: dict[str, str]  # PYTHONHASHSEED of each process that served the run, as the kernel shows it
    lost: int  # block calls whose execution was lost with a worker (and run again)

    def record(self, label: str) -> bytes:
        return dict(self.records)[label]


Between = Callable[[Client], None]
"""Something done with a client of the broker between the calls before the block and the block."""
During = Callable[[BrokerCommand, threading.Event], None]
"""Something done while the block is executed (told by the event when the block was answered)."""


def play(broker: BrokerCommand, workers: int, db: Path | None, between: Between,
         while_block: During | None) -> Run:
    """The sequence on ``broker`` once its ``workers`` registered.

    ``between`` runs after the calls before the block; ``while_block``, in a
    thread, while the block is executed.
    """
    with broker.client() as client:
        pids = worker_pids(client, lambda found: len(found) == workers)
        before = client.stats()
        seeds = {"broker": environment_of(broker.command.pid).get("PYTHONHASHSEED", "")}
        seeds |= {f"worker {pid}": environment_of(pid).get("PYTHONHASHSEED", "") for pid in pids}
        deploys = {name: client.request(deploy_exchange(path.read_bytes()).body)
                   for name, path in MODULES.items()}
        ids = {name: str(body["code_id"]) for name, body in deploys.items()}
        records = [(f"deploy {name}", canonical(body)) for name, body in deploys.items()]  # code id, gas
        records += [(f"before {i}: {spec}", canonical(client.request(spec.body(ids))))
                    for i, spec in enumerate(BEFORE)]
        between(client)
        block = block_body([spec.block_call(ids) for spec in BLOCK], False, None, BLOCK_TIMEOUT)
        records.append(("block", canonical(during(broker, while_block, lambda: client.request(block)))))
        worker_pids(client, lambda found: len(found) == workers)  # a killed worker's replacement registered
        records += [(f"after {i}: {spec}", canonical(client.request(spec.body(ids))))
                    for i, spec in enumerate(AFTER)]
        records.append(("root", canonical(client.request(block_body([], True, None, None)))))
        after = client.stats()
    tiers = {tier: after["cache_tiers"].get(tier, 0) - before["cache_tiers"].get(tier, 0)
             for tier in ("memory", "disk", "compile")}
    tiers["preloaded"] = after["cache_tiers"].get("preloaded", 0)  # at the workers' start, before the run
    lost = after["counters"].get("block_tasks_lost", 0) - before["counters"].get("block_tasks_lost", 0)
    return Run(records, None if db is None else committed(db), after["cache_misses"] - before["cache_misses"],
               tiers, seeds, lost)


def during(broker: BrokerCommand, action: During | None,
           request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``request()``'s answer, with ``action`` running in a thread meanwhile (told when the answer came)."""
    if action is None:
        return request()
    answered = threading.Event()
    thread = threading.Thread(target=action, args=(broker, answered))
    thread.start()
    try:
        return request()
    finally:
        answered.set()
        thread.join()


def committed(db: Path) -> bytes:
    """Every row of the store's state table (tombstones and versions too), sorted, as msgpack."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT code_id, key, value, version FROM state ORDER BY code_id, key")
        packed = encode([list(row) for row in rows])
    connection.close()
    return packed


def difference(got: Any, want: Any, where: str = "") -> str:
    """Where two decoded bodies first differ, and the two values there (compared as msgpack bytes)."""
    if isinstance(got, dict) and isinstance(want, dict) and list(got) == list(want):
        inner = [(f"{where}.{name}", got[name], want[name]) for name in got]
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        inner = [(f"{where}[{index}]", a, b) for index, (a, b) in enumerate(zip(got, want, strict=True))]
    else:
        return f"{where or 'the body'}: {got!r} where the reference has {want!r}"
    for path, a, b in inner:
        if encode(a) != encode(b):
            return difference(a, b, path)
    return f"{where}: the same values, encoded differently"


def nothing(client: Client) -> None:
    """Nothing happens between the calls before the block and the block."""
