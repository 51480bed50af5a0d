"""``wasmpool call`` and ``query`` print a result's events: type, attributes in order, and the emitter.

The formatting is tested here on results built from wire bodies (the same
``Result.from_body`` the client uses); tests/pool/test_rust_contracts.py runs
the command against a real pool, where a swap's token calls emit events.
"""

from __future__ import annotations

from typing import Any

import pytest

from wasmpool.cli.client import format_result
from wasmpool.client import Result

TOKEN = bytes.fromhex("0b" * 20)


def result(events: list[Any]) -> Result:
    return Result.from_body({"status": "ok", "code": 0, "gas_used": 7, "events": events})


def event_lines(events: list[Any]) -> list[str]:
    return [line for line in format_result(result(events)).splitlines() if line.startswith("event:")]


def test_an_event_of_the_called_contract_shows_its_type_and_attributes_in_order() -> None:
    lines = event_lines([[b"swap", [[b"trader", b"bob"], [b"in", b"100"], [b"out", b"83"]]]])
    assert lines == ["event:    swap trader='bob' in='100' out='83'"]


def test_an_event_a_callee_emitted_names_its_emitter() -> None:
    lines = event_lines([[b"transfer", [[b"from", b"bob"], [b"amount", b"5"]], TOKEN],
                         [b"swap", [[b"in", b"5"]]]])
    assert lines == [f"event:    transfer from='bob' amount='5' (emitter {TOKEN.hex()})",
                     "event:    swap in='5'"]


@pytest.mark.parametrize(("kind", "key", "value", "shown"), [
    pytest.param(b"a b", b"k", b"v", "'a b' k='v'", id="type-with-a-space-quoted"),
    pytest.param(b"t", b"k=1", b"v", "t 'k=1'='v'", id="key-with-equals-quoted"),
    pytest.param(b"t", b"\xff", b"\x00\x01", "t 0xff=0x0001", id="binary-as-hex"),
    pytest.param(b"t", b"", b"", "t ''=''", id="empty-key-and-value"),
])
def test_types_keys_and_values_that_are_not_plain_words_are_quoted_or_hex(
        kind: bytes, key: bytes, value: bytes, shown: str) -> None:
    assert event_lines([[kind, [[key, value]]]]) == [f"event:    {shown}"]


def test_a_result_without_events_prints_no_event_line() -> None:
    assert event_lines([]) == []
    assert result([]).events == []


def test_the_client_keeps_the_emitter_as_a_third_element() -> None:
    assert result([[b"t", [[b"k", b"v"]], TOKEN], [b"u", []]]).events == [(b"t", [(b"k", b"v")], TOKEN),
                                                                        (b"u", [])]
