"""The ``make run`` demonstration (wasmpool/cli/demo.py) against a real pool: it tells the swap story.

``run_demo`` is what ``wasmpool broker --demo examples/rust`` runs once the
broker serves; here it runs against the test pool with its lines collected.
Run twice on the same state it makes new contracts (the next salt) instead
of failing on the taken addresses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.pool.conftest import Pool
from wasmpool.cli.demo import run_demo

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"


def demo(pool: Pool) -> tuple[dict[str, str], list[str]]:
    lines: list[str] = []
    book = asyncio.run(run_demo(pool.frontend, RUST, 2, say=lines.append))
    return book.addresses, "\n".join(lines).splitlines()


def test_the_demo_swaps_between_two_tokens_of_one_code_and_balances_add_up(pool: Pool) -> None:
    addresses, lines = demo(pool)
    assert set(addresses) == {"gold", "silver", "swap"}
    swap = next(i for i, line in enumerate(lines) if "swap.swap 'a 100 80'" in line)
    assert lines[swap].endswith("returned 83")
    assert [line.strip() for line in lines[swap + 1:swap + 4]] == [
        "[gold] transfer from=bob to=swap amount=100",
        "[silver] transfer from=swap to=bob amount=83",
        "[swap] swap trader=bob sold=token a in=100 out=83",
    ]
    assert any("reverted" in line and "token a transfer_from: allowance exceeded" in line for line in lines)
    assert any("10 concurrent swaps by alice, half each way: 10 ok" in line for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("balances"))
    table = lines[header + 1:header + 5]
    held = {row.split()[0]: [int(n) for n in row.split()[1:]] for row in table}
    assert set(held) == {"alice", "bob", "carol", "swap"}
    assert [sum(column) for column in zip(*held.values(), strict=True)] == [1000, 1000]
    assert any(line.startswith("swap reserves: " + " ".join(map(str, held["swap"]))) for line in lines)


def test_a_second_run_on_the_same_state_makes_new_contracts(pool: Pool) -> None:
    first, _ = demo(pool)
    second, lines = demo(pool)
    assert set(first.values()).isdisjoint(second.values())
    assert any("returned 83" in line for line in lines)
