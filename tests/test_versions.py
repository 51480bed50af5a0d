"""The versions that decide a result: the pinned gas schedule and the compiled-code cache key."""

from __future__ import annotations

import sys

from wasmpool import wasm
from wasmpool.wasm import opcodes
from wasmpool.wire import prices
from wasmpool.worker import host, host_crypto, versions

PINNED = (8, "7956e3248163e0c5c23bc1809cdc193f3d73408c2a77c311aadb3b52a8f6ccbf")
"""(GAS_SCHEDULE_VERSION, gas_schedule_digest()) as of the last change to a price."""


def test_gas_schedule_is_pinned_with_its_version() -> None:
    got = (versions.GAS_SCHEDULE_VERSION, versions.gas_schedule_digest())
    assert got == PINNED, (
        "the gas schedule changed: a price in wasmpool.wasm.opcodes, runtime.gas, runtime.setup_gas, "
        "wasmpool.worker.host or wasmpool.wire.prices differs from the pinned table. If the change is "
        "meant, bump GAS_SCHEDULE_VERSION in worker/versions.py, set PINNED in tests/test_versions.py "
        f"to (<the new version>, {got[1]!r}) and document the new prices in docs/gas.md; if it is not, "
        f"restore the price (got version {got[0]}, digest {got[1]})"
    )


def test_schedule_lists_every_kind_of_price() -> None:
    table = versions.gas_schedule()
    assert table["op.0x0010.call"] == opcodes.Gas.CALL
    assert table["setup.function"] == wasm.runtime.setup_gas.FUNCTION_GAS
    assert table["host.put_state"] == host.HostGas.PUT_STATE
    assert table["host.gas.stored_byte"] == host.HostGas.STORED_BYTE
    assert table["host.call_contract"] == table["host.gas.call_contract"] == host.HostGas.CALL_CONTRACT
    assert table["host.return_data"] == host.HostGas.RETURN_DATA == host.HostGas.COPY  # an alias of COPY
    assert table["host.sha256"] == table["host.crypto.sha256"] == host_crypto.CryptoGas.SHA256
    assert table["host.crypto.keccak256_word"] == host_crypto.CryptoGas.KECCAK256_WORD
    assert table["deploy.byte"] == prices.DEPLOY_BYTE_GAS
    assert table["load.byte"] == prices.LOAD_BYTE_GAS
    assert len([name for name in table if name.startswith("op.")]) == len(opcodes.OPS)


def test_changing_one_price_changes_the_digest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    before = versions.gas_schedule_digest()
    monkeypatch.setattr(prices, "LOAD_BYTE_GAS", prices.LOAD_BYTE_GAS + 1)
    assert versions.gas_schedule_digest() != before


def test_cache_key_names_what_compiled_code_depends_on() -> None:
    key = versions.cache_key("ab" * 32)
    assert key == ("ab" * 32, wasm.SEMANTICS_VERSION, versions.GAS_SCHEDULE_VERSION, "canonical", True,
                   sys.implementation.cache_tag, versions.engine_build())
    assert key.text() != versions.cache_key("ab" * 32, metered=False).text()
    assert "/" not in key.text()
