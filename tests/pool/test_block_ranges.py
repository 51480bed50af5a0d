"""Key range reads in blocks: receipts equal to serial execution, phantoms caught by Block-STM validation.

A block's calls scan ranges that earlier calls of the same block insert
into, delete from or rewrite, run in parallel on real worker processes (in
chunks, so some calls merge an earlier call's writes of their chunk over the
broker's page). The result must equal :class:`tests.pool.test_blocks.Serial`
byte for byte: a call that scanned before a lower call's insert was recorded
is re-executed when validation finds the range changed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.pool import scanning as s
from tests.pool.conftest import unique
from tests.pool.test_blocks import Fixture, Pools, call, run_and_check
from wasmpool.broker.blocks import BlockCall
from wasmpool.wire.protocol import Status


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pools]:
    made = Pools(tmp_path_factory.mktemp("block-ranges"))
    try:
        yield made
    finally:
        made.close()


def scanner(fixture: Fixture, *initial: bytes) -> str:
    """A fresh scanner contract, with ``initial`` ops committed by an ordinary call first."""
    code_id = fixture.deploy(unique(s.SCANNER.read_bytes()))
    if initial:
        with fixture.pool.client() as client:
            assert client.call(code_id, "run", input=s.script(*initial), gas_limit=50_000_000).ok
    return code_id


def run(code_id: str, *ops: bytes) -> BlockCall:
    return call(code_id, "run", s.script(*ops), gas=50_000_000)


@pytest.mark.parametrize("workers", [1, 2])
def test_later_calls_scan_ranges_earlier_calls_change(pools: Pools, workers: int) -> None:
    fixture = pools.get(workers)
    code = scanner(fixture, s.put(b"k/1", b"one"), s.put(b"k/2", b"two"), s.put(b"z", b"outside"))
    calls = [
        run(code, s.wait(150), s.put(b"k/3", b"three")),  # slow: later calls likely scan before it lands
        run(code, s.count_insert(10, b"k/", b"k0", b"k/4"), s.scan(b"k/", b"k0")),
        run(code, s.delete(b"k/1"), s.scan(b"k/", b"k0", 1)),
        run(code, s.scan(b"k/", b"")),
        run(code, s.put(b"k/0", b"mine"), s.delete(b"k/2"), s.scan(b"k/", b"k0"), s.scan(b"k/", b"k0", 1)),
        run(code, s.scan(b"", b"", 1, key_cap=2, value_cap=1)),
    ]
    result = run_and_check(fixture, calls)
    assert all(r.status == Status.OK for r in result.receipts)
    assert result.receipts[1].output[0] == 3  # it counted the first call's insert: k/1, k/2, k/3
    assert [k for k, _ in s.pairs(result.receipts[3].output)] == [b"k/2", b"k/3", b"k/4", b"z"]


def test_capped_inserts_in_one_block_keep_the_cap(pools: Pools) -> None:
    """Each call inserts its key if fewer than LIMIT are in the range: serially, exactly LIMIT land."""
    fixture = pools.get(2)
    code = scanner(fixture)
    limit = 3
    calls = [run(code, s.count_insert(limit, b"slot/", b"slot0", b"slot/%d" % i), s.wait(40 * (i % 2)))
             for i in range(8)]
    result = run_and_check(fixture, calls)
    assert [r.output[0] for r in result.receipts] == [0, 1, 2, 3, 3, 3, 3, 3]
    assert len(result.writes) == limit


def _random_block(code: str, rng: random.Random, size: int) -> list[BlockCall]:
    keys = [b"r/%d" % i for i in range(8)]
    calls = []
    for _ in range(size):
        ops = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.35:
                ops.append(s.put(rng.choice(keys), b"v%d" % rng.randint(0, 99)))
            elif kind < 0.5:
                ops.append(s.delete(rng.choice(keys)))
            elif kind < 0.8:
                low, high = sorted(rng.sample([*keys, b"r/", b"r0"], 2))
                ops.append(s.scan(low, rng.choice([high, b""]), rng.randint(0, 1)))
            else:
                ops.append(s.count_insert(rng.randint(1, 6), b"r/", b"r0", rng.choice(keys)))
        if rng.random() < 0.3:
            ops.insert(0, s.wait(rng.randint(1, 60)))
        calls.append(run(code, *ops))
    return calls


@pytest.mark.parametrize("seed", range(6))
def test_random_blocks_of_puts_deletes_and_scans_equal_serial(pools: Pools, seed: int) -> None:
    rng = random.Random(seed)
    fixture = pools.get(2)
    code = scanner(fixture, *(s.put(b"r/%d" % i, b"base") for i in range(0, 8, 2)))
    run_and_check(fixture, _random_block(code, rng, 10))
