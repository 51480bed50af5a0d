"""The block benchmark, checked for correctness at a tiny size (never for speed).

``bench/pool/block_bench.py`` compares every pool result with its own serial
execution and stops when one differs; here it runs end to end on 20 calls
per block, one worker, with the heavy block's ``move`` calls included, and
its serial baseline is checked against the contract's own arithmetic.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wasmpool.broker.blocks import StateTree
from wasmpool.wire import protocol as p

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pool" / "block_bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("block_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["block_bench"] = module  # the spawned workers need nothing from it: they run worker.process
    spec.loader.exec_module(module)
    return module


def test_the_heavy_calls_move_one_unit_and_output_their_mixing(bench: ModuleType) -> None:
    from wasmpool.worker.modules import load

    work = bench.WORK.read_bytes()
    code_id = p.code_id(work)
    calls = bench.moves(code_id, 5, 12, seed=3, rounds=40)
    result = bench.serial({code_id: load(work)}, calls, {}, StateTree())
    assert all(r.status == p.Status.OK and len(r.output) == 8 for r in result.receipts)
    net: dict[bytes, int] = {}
    for call in calls:
        frm, to, _ = call.args
        net[call.access[0]] = net.get(call.access[0], 0) - 1
        net[call.access[1]] = net.get(call.access[1], 0) + 1
        assert call.access == (b"w" + frm.to_bytes(4, "little"), b"w" + to.to_bytes(4, "little"))
    final = {key: int.from_bytes(value or b"", "little", signed=True) for _, key, value in result.writes}
    assert final == net


def test_the_block_benchmark_runs_and_agrees_with_serial(bench: ModuleType,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--calls", "20", "--workers", "1", "--repeat", "1", "--rounds", "50", "--cpu"])
    out = capsys.readouterr().out
    assert "results equal to serial: yes" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "contention" not in line]
    assert len(rows) == 5 and rows[-1].startswith("| low, 50-round calls | declared access |")
    assert "CPU per block: client" in out
