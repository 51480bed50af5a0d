"""Compiling a newly deployed module ahead of its first call (``BrokerConfig.compile_on_deploy``).

The broker core is driven by frames and a fake clock, the worker session by
frames, and the whole path by a real broker, worker processes and a SQLite
file: after a deploy, one worker fetches and compiles the module between
jobs, reports it cached, and the module's first call is a memory hit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.pool.conftest import TEST_CONFIG, Pool, start_pool, unique
from tests.pool.test_core import PROBE, PROBE_ID, Harness, command, job_of
from tests.pool.test_pinning import add_worker, fetches, wait_until
from tests.pool.test_pins import OTHER, OTHER_ID, client_reply, heartbeats_to_workers, ready
from wasmpool.broker.outgoing import Outgoing
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command
from wasmpool.worker.cache import ModuleCache
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.session import WorkerSession

WARMING = replace(TEST_CONFIG, compile_on_deploy=True)


def deploy(h: Harness, module: bytes) -> list[Outgoing]:
    return h.client({"op": "deploy", "code": module})


def warmed(outs: list[Outgoing]) -> dict[bytes, list[str]]:
    """The workers a HEARTBEAT among ``outs`` asks to compile modules ahead, and which."""
    heartbeats = heartbeats_to_workers(outs)
    return {identity: body["warm"] for identity, body in heartbeats.items() if "warm" in body}


# --- the broker core ---------------------------------------------------------------------------


def test_a_new_module_goes_to_the_longest_idle_worker_which_alone_may_fetch_it_once() -> None:
    h = Harness()
    h.deploy(OTHER)
    ready(h, b"w1")
    ready(h, b"w2")
    h.final(b"w1", job_of(h.call("add", OTHER_ID), b"w1"))  # w1 ran a job: w2 is now idle the longest
    outs = deploy(h, PROBE)
    assert client_reply(outs)[1]["code_id"] == PROBE_ID
    assert warmed(outs) == {b"w2": [PROBE_ID]}
    assert h.callback(b"w1", b"pin", 1, op="pin_code", code_id=PROBE_ID).get("code") is None
    assert h.callback(b"w2", b"pin", 1, op="pin_code", code_id=PROBE_ID) == {"seq": 1, "code": PROBE}
    assert h.callback(b"w2", b"pin", 2, op="pin_code", code_id=PROBE_ID).get("code") is None  # once
    assert (h.core.counters["warms"], h.core.counters["warm_fetches"]) == (1, 1)


def test_a_burst_of_deploys_spreads_over_the_idle_workers() -> None:
    h = Harness()
    for identity in (b"w1", b"w2", b"w3"):
        ready(h, identity)
    modules = [unique(PROBE) for _ in range(4)]
    asked = [warmed(deploy(h, module)) for module in modules]
    assert asked == [{identity: [p.code_id(module)]} for identity, module
                     in zip((b"w1", b"w2", b"w3", b"w1"), modules, strict=True)]
    outs = h.call("add", p.code_id(modules[3]))  # a call goes to the worker idle the longest: not w1
    assert [o.identity for o in outs if command(o) is Command.REQUEST] == [b"w2"]


def test_a_module_a_worker_still_holds_is_not_compiled_ahead() -> None:
    h = Harness()  # an in-memory broker restarted: its store is empty, a worker kept the module
    ready(h, b"w1", cache=[PROBE_ID])
    ready(h, b"w2")
    assert warmed(deploy(h, PROBE)) == {} and h.core.counters["warms"] == 0


def test_a_module_deployed_again_is_not_compiled_ahead_again() -> None:
    h = Harness()
    ready(h, b"w1")
    assert warmed(deploy(h, PROBE)) == {b"w1": [PROBE_ID]}
    assert warmed(deploy(h, PROBE)) == {}
    assert h.core.counters["warms"] == 1


def test_busy_workers_are_asked_too_the_one_with_the_fewest_jobs_first() -> None:
    h = Harness()
    contracts = [h.deploy(unique(PROBE)) for _ in range(4)]  # one contract's calls run one at a time
    h.worker(b"w1", Command.READY, body={"heartbeats": True, "credits": 2})
    ready(h, b"w2")
    for n, code_id in enumerate(contracts):  # three go to the workers (w1 takes two), the fourth waits
        h.client({"op": "call", "code_id": code_id, "function": "add"}, identity=b"client-%d" % n)
    assert {w.identity: len(w.jobs) for w in h.core.workers.values()} == {b"w1": 2, b"w2": 1}
    assert not h.core.idle and len(h.core.queue) == 1
    assert warmed(deploy(h, PROBE)) == {b"w2": [PROBE_ID]}


def test_nothing_is_compiled_ahead_when_turned_off_or_with_no_worker_to_ask() -> None:
    off = Harness(compile_on_deploy=False)
    ready(off, b"w1")
    assert warmed(deploy(off, PROBE)) == {} and off.core.counters["warms"] == 0
    silent = Harness()
    silent.worker(b"old", Command.READY)  # a worker that does not heartbeat would not read the ask
    assert warmed(deploy(silent, PROBE)) == {}
    nobody = Harness()
    assert warmed(deploy(nobody, PROBE)) == {} and nobody.store.get_code(PROBE_ID) == PROBE


def test_a_worker_holds_at_most_max_warm_modules_to_fetch_and_its_cache_report_settles_them() -> None:
    h = Harness()
    ready(h, b"w1")
    modules = [unique(PROBE) for _ in range(p.MAX_WARM + 1)]
    asked = [warmed(deploy(h, module)) for module in modules]
    assert asked[:-1] == [{b"w1": [p.code_id(module)]} for module in modules[:-1]]
    assert asked[-1] == {}  # its list is full: that module's first call loads it
    found_on_disk = p.code_id(modules[0])  # loaded from the host's disk cache: never fetched
    h.worker(b"w1", Command.HEARTBEAT, b"hb", {"cache": [found_on_disk], "hits": 0, "misses": 0})
    (worker,) = h.core.workers.values()
    assert found_on_disk not in worker.warming and len(worker.warming) == p.MAX_WARM - 1
    another = unique(PROBE)
    assert warmed(deploy(h, another)) == {b"w1": [p.code_id(another)]}


def test_the_deploys_answer_goes_out_before_the_ask() -> None:
    h = Harness()
    ready(h, b"w1")
    outs = deploy(h, PROBE)
    assert [command(o) for o in outs] == [Command.FINAL, Command.HEARTBEAT]


# --- the worker session ------------------------------------------------------------------------


def heartbeat(session: WorkerSession, body: dict[str, Any]) -> None:
    session.heard(p.encode(p.WORKER_TAG, Command.HEARTBEAT, b"hb", body))


def test_the_session_queues_modules_to_warm_in_order_once_each_and_at_most_max_warm() -> None:
    session = WorkerSession(WorkerConfig(endpoint="tcp://127.0.0.1:1"), ModuleCache(), lambda: 0.0)
    assert not session.has_news() and session.take_warm() is None
    heartbeat(session, {"warm": [PROBE_ID]})
    heartbeat(session, {"warm": [OTHER_ID, PROBE_ID]})
    assert session.has_news() and not session.has_work()  # wakes the loop, never ahead of a job
    assert [session.take_warm(), session.take_warm(), session.take_warm()] == [PROBE_ID, OTHER_ID, None]
    many = [p.code_id(unique(PROBE)) for _ in range(p.MAX_WARM + 3)]
    for start in range(0, len(many), p.MAX_WARM):
        heartbeat(session, {"warm": many[start:start + p.MAX_WARM]})
    assert len(session.warm) == p.MAX_WARM and list(session.warm) == many[:p.MAX_WARM]


# --- a real pool -------------------------------------------------------------------------------


def test_a_new_modules_first_call_is_a_memory_hit(tmp_path: Path, token_wasm: bytes) -> None:
    pool: Pool = start_pool(tmp_path / "state.db", workers=0, config=WARMING)
    try:
        with pool.client() as client:
            add_worker(pool)
            pool.wait_for_workers(1)
            code_id = client.deploy(unique(token_wasm))
            stats = wait_until(client, lambda s: s["worker_list"][0]["cached"] == 1)
            assert stats["counters"]["warms"] == stats["counters"]["warm_fetches"] == 1
            assert client.call(code_id, "total_supply").ok
            after = client.stats()
            assert fetches(after) == 0
            assert after["cache_hits"] == stats["cache_hits"] + 1
            assert after["cache_misses"] == stats["cache_misses"]
    finally:
        pool.stop()


def test_without_compile_on_deploy_the_first_call_fetches_and_compiles(tmp_path: Path,
                                                                       token_wasm: bytes) -> None:
    pool: Pool = start_pool(tmp_path / "state.db", workers=1, config=TEST_CONFIG)
    try:
        with pool.client() as client:
            pool.wait_for_workers(1)
            code_id = client.deploy(unique(token_wasm))
            assert client.call(code_id, "total_supply").ok
            stats = client.stats()
            assert fetches(stats) == 1 and stats["cache_misses"] == 1
            assert "warms" not in stats["counters"]
    finally:
        pool.stop()
