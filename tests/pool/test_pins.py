"""Pinning without processes: the broker core's pinned set, the stores' pins, the worker's pinned map.

Driven by frames and a fake clock (the core), plain calls (the stores, the
cache) and a fake clock (the session). The same behaviour with real
brokers and worker processes is in test_pinning.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.pool.conftest import unique
from tests.pool.test_core import PROBE, PROBE_ID, Harness, command, reply_body
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.core import BrokerCore
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.broker.state import MemoryStore, SQLiteStore, StateStore
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode
from wasmpool.worker.cache import ModuleCache
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.pinned import RETRY_AFTER, PinnedCache
from wasmpool.worker.session import WorkerSession
from wasmpool.worker.validate import module_error

OTHER = unique(PROBE)  # the same code under another code id
OTHER_ID = p.code_id(OTHER)
UNKNOWN_ID = "ab" * 32


def pin(h: Harness, code_id: str, op: str = "pin") -> list[Outgoing]:
    return h.client({"op": op, "code_id": code_id})


def client_reply(outs: list[Outgoing]) -> tuple[Command, dict[str, Any]]:
    (out,) = [o for o in outs if o.side is Side.FRONTEND]
    return command(out), reply_body(out)


def heartbeats_to_workers(outs: list[Outgoing]) -> dict[bytes, dict[str, Any]]:
    return {o.identity: reply_body(o) for o in outs
            if o.side is Side.BACKEND and command(o) is Command.HEARTBEAT}


def ready(h: Harness, identity: bytes, cache: list[str] | None = None) -> list[Outgoing]:
    body: dict[str, Any] = {"heartbeats": True}
    if cache is not None:
        body["cache"] = cache
    return h.worker(identity, Command.READY, body=body)


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.deploy()
    harness.deploy(OTHER)
    return harness


# --- the broker core ---------------------------------------------------------------------------


def test_pin_answers_and_reaches_every_live_worker_with_the_whole_set(h: Harness) -> None:
    ready(h, b"w1")
    ready(h, b"w2")
    outs = pin(h, PROBE_ID)
    assert client_reply(outs) == (Command.FINAL, {"code_id": PROBE_ID, "pinned": True, "changed": True})
    assert heartbeats_to_workers(outs) == {b"w1": {"pinned": [PROBE_ID]}, b"w2": {"pinned": [PROBE_ID]}}
    outs = pin(h, OTHER_ID)
    assert heartbeats_to_workers(outs)[b"w1"] == {"pinned": sorted([PROBE_ID, OTHER_ID])}
    assert h.core.stats()["pinned"] == sorted([PROBE_ID, OTHER_ID])


def test_pinning_again_changes_nothing_and_tells_no_worker(h: Harness) -> None:
    ready(h, b"w1")
    pin(h, PROBE_ID)
    outs = pin(h, PROBE_ID)
    assert client_reply(outs)[1] == {"code_id": PROBE_ID, "pinned": True, "changed": False}
    assert heartbeats_to_workers(outs) == {}


def test_a_registering_worker_learns_the_pinned_set_with_the_answer_to_ready(h: Harness) -> None:
    pin(h, PROBE_ID)
    (answer,) = heartbeats_to_workers(ready(h, b"w1")).values()
    assert answer["pinned"] == [PROBE_ID] and "interval" in answer


def test_an_unknown_code_id_cannot_be_pinned(h: Harness) -> None:
    kind, body = client_reply(pin(h, UNKNOWN_ID))
    assert kind is Command.ERROR and body["code"] == ErrorCode.UNKNOWN_CODE
    assert h.core.stats()["pinned"] == [] and h.store.pins() == frozenset()


def test_a_malformed_code_id_is_a_bad_request(h: Harness) -> None:
    kind, body = client_reply(pin(h, "not-a-code-id"))
    assert kind is Command.ERROR and body["code"] == ErrorCode.BAD_REQUEST


def test_unpin_tells_every_worker_and_unpinning_what_is_not_pinned_is_no_error(h: Harness) -> None:
    ready(h, b"w1")
    pin(h, PROBE_ID)
    outs = pin(h, PROBE_ID, "unpin")
    assert client_reply(outs)[1] == {"code_id": PROBE_ID, "pinned": False, "changed": True}
    assert heartbeats_to_workers(outs) == {b"w1": {"pinned": []}}
    assert client_reply(pin(h, PROBE_ID, "unpin"))[1]["changed"] is False
    assert h.store.pins() == frozenset()


def test_pins_are_bounded(h: Harness) -> None:
    h.core.pins.limit = 1
    pin(h, PROBE_ID)
    kind, body = client_reply(pin(h, OTHER_ID))
    assert kind is Command.ERROR and body["code"] == ErrorCode.BAD_REQUEST and body["limit"] == "max_pinned"


def test_configured_pins_must_be_deployed_and_are_recorded() -> None:
    store = MemoryStore()
    with pytest.raises(errors.UnknownCode):
        BrokerCore(store, config=BrokerConfig(pinned=(PROBE_ID,)), validate=module_error)
    store.put_code(PROBE_ID, PROBE)
    core = BrokerCore(store, config=BrokerConfig(pinned=(PROBE_ID,)), validate=module_error)
    assert core.stats()["pinned"] == [PROBE_ID] and store.pins() == {PROBE_ID}


def test_a_new_core_pins_what_its_store_recorded(h: Harness) -> None:
    pin(h, PROBE_ID)
    again = BrokerCore(h.store, validate=module_error)
    assert again.stats()["pinned"] == [PROBE_ID]


def test_a_call_on_a_pinned_module_goes_to_the_longest_idle_worker_not_the_one_caching_it(h: Harness) -> None:
    ready(h, b"w1")
    ready(h, b"w2", cache=[PROBE_ID])
    outs = h.call()
    assert [o.identity for o in outs if command(o) is Command.REQUEST] == [b"w2"]  # cache routing
    h.final(b"w2", next(o for o in outs if command(o) is Command.REQUEST).frames[2])
    ready(h, b"w3")
    pin(h, PROBE_ID)
    outs = h.call()
    assert [o.identity for o in outs if command(o) is Command.REQUEST] == [b"w1"]  # any worker holds it


def test_only_pinned_modules_are_served_outside_a_job(h: Harness) -> None:
    ready(h, b"w1")
    refused = h.callback(b"w1", b"pin", 1, op="pin_code", code_id=PROBE_ID)
    assert refused["error"] and "code" not in refused
    pin(h, PROBE_ID)
    served = h.callback(b"w1", b"pin", 2, op="pin_code", code_id=PROBE_ID)
    assert served == {"seq": 2, "code": PROBE}
    assert h.core.counters["pin_fetches"] == 1


def test_an_unregistered_worker_gets_no_pinned_module(h: Harness) -> None:
    pin(h, PROBE_ID)
    refused = h.callback(b"stranger", b"pin", 1, op="pin_code", code_id=PROBE_ID)
    assert "code" not in refused


def test_stats_tell_per_worker_which_pinned_modules_are_not_loaded(h: Harness) -> None:
    ready(h, b"w1")
    pin(h, PROBE_ID)
    assert h.core.stats()["worker_list"][0]["pinned_missing"] == [PROBE_ID]
    h.worker(b"w1", Command.HEARTBEAT, b"hb", {"cache": [PROBE_ID], "hits": 0, "misses": 0})
    assert h.core.stats()["worker_list"][0]["pinned_missing"] == []


# --- the stores: pins apart from contract state ---------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "state.db")


def test_store_pins_are_recorded_and_removed(store: StateStore) -> None:
    assert store.pins() == frozenset()
    assert store.set_pinned(PROBE_ID, True) is True
    assert store.set_pinned(PROBE_ID, True) is False
    assert store.set_pinned(OTHER_ID, True) is True
    assert store.pins() == {PROBE_ID, OTHER_ID}
    assert store.set_pinned(PROBE_ID, False) is True
    assert store.set_pinned(PROBE_ID, False) is False
    assert store.pins() == {OTHER_ID}


def test_pins_are_not_contract_state(store: StateStore) -> None:
    store.commit(PROBE_ID, {}, {b"k": b"v"})
    before = (list(store.items()), store.sequence())
    store.set_pinned(PROBE_ID, True)
    assert (list(store.items()), store.sequence()) == before


def test_sqlite_pins_survive_reopening(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "state.db")
    first.set_pinned(PROBE_ID, True)
    first.close()
    assert SQLiteStore(tmp_path / "state.db").pins() == {PROBE_ID}


# --- the worker: its pinned map and its session ----------------------------------------------


def test_pinned_modules_never_count_against_the_lru() -> None:
    cache: PinnedCache[str] = PinnedCache(ModuleCache(max_entries=1))
    cache.want(["a", "b", "c"])
    for key in "abc":
        cache.put(key, key.upper(), 10)
    cache.put("x", "X", 10)
    cache.put("y", "Y", 10)  # the LRU holds one entry: x goes
    assert [cache.get(k) for k in "abcxy"] == ["A", "B", "C", None, "Y"]
    assert (cache.hits, cache.misses, cache.pinned_hits) == (4, 1, 3)
    assert sorted(cache.keys()) == ["a", "b", "c", "y"] and cache.pending(0.0) is None


def test_unpinned_modules_fall_back_into_the_lru_and_pinning_takes_them_out_of_it() -> None:
    lru: ModuleCache[str] = ModuleCache(max_entries=2)
    cache: PinnedCache[str] = PinnedCache(lru)
    cache.put("a", "A", 10)
    cache.want(["a", "b"])  # a moves over without a load; b is to be loaded
    assert "a" not in lru and cache.loaded() == ["a"] and cache.pending(0.0) == "b"
    cache.want([])
    assert lru.keys() == ["a"] and cache.loaded() == [] and cache.get("a") == "A"


def test_a_module_that_failed_to_load_is_tried_again_later_or_when_the_set_changes() -> None:
    cache: PinnedCache[str] = PinnedCache(ModuleCache())
    cache.want(["a"])
    cache.failed_to_load("a", 100.0)
    assert cache.pending(100.0) is None and cache.pending(100.0 + RETRY_AFTER) == "a"
    cache.want(["a", "b"])
    assert cache.pending(100.0) == "a"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def broker_heartbeat(body: dict[str, Any]) -> list[bytes]:
    return p.encode(p.WORKER_TAG, Command.HEARTBEAT, b"hb", body)


def test_the_session_keeps_the_announced_pinned_set_and_reports_a_changed_cache() -> None:
    cache: PinnedCache[str] = PinnedCache(ModuleCache())
    session = WorkerSession(WorkerConfig(), cache, FakeClock(), pid=1)
    session.ready()
    assert session.take_pinned() is None and not session.has_news()
    session.heard(broker_heartbeat(m.Heartbeat(interval=1.0, pinned=[PROBE_ID]).to_body()))
    assert session.has_news() and not session.has_work()
    assert session.take_pinned() == {PROBE_ID} and session.take_pinned() is None
    session.heard(broker_heartbeat(m.Heartbeat(interval=1.0).to_body()))  # no set: no change
    assert session.take_pinned() is None and session.pinned == {PROBE_ID}
    assert session.report() is None  # nothing changed since READY
    cache.want([PROBE_ID])
    cache.put(PROBE_ID, "loaded", 1)
    frames = session.report()
    assert frames is not None and frames[1] == bytes((Command.HEARTBEAT,))
    assert msgpack.unpackb(frames[3])["cache"] == [PROBE_ID]
    p.decode_worker(frames)  # the broker accepts it
    assert session.report() is None
    session.heard(broker_heartbeat(m.Heartbeat(interval=1.0, pinned=[]).to_body()))  # a broker with none
    assert session.take_pinned() == frozenset()
