"""The scanner test contract's scripts (fixtures/scanner.wat), its output, and a model to check them by.

A script is a list of ops; :func:`script` encodes it as the contract's
input. :class:`Model` runs the same script on a dict, the way the ABI
documents iteration (one view: committed state merged with the call's own
writes), so a test compares what the pool did with what a serial run does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SCANNER = FIXTURES / "scanner.wasm"


def put(key: bytes, value: bytes) -> bytes:
    return b"P" + bytes([len(key)]) + key + struct.pack("<H", len(value)) + value


def delete(key: bytes) -> bytes:
    return b"D" + bytes([len(key)]) + key


def scan(start: bytes = b"", end: bytes = b"", order: int = 0, key_cap: int = 1000,
         value_cap: int = 1000) -> bytes:
    return (b"S" + bytes([order]) + struct.pack("<HH", key_cap, value_cap) + bytes([len(start)]) + start
            + bytes([len(end)]) + end)


def count_insert(limit: int, start: bytes, end: bytes, key: bytes) -> bytes:
    """Count the range's entries (one output byte); put ``key`` when fewer than ``limit``."""
    return b"C" + bytes([limit, len(start)]) + start + bytes([len(end)]) + end + bytes([len(key)]) + key


def open_many(count: int) -> bytes:
    return b"O" + bytes([count])


def next_of(iterator: int) -> bytes:
    return b"N" + bytes([iterator])


def raw_order(order: int) -> bytes:
    return b"Z" + bytes([order])


def script(*ops: bytes) -> bytes:
    return b"".join(ops)


def parse_scan(output: bytes, key_cap: int = 1000,
               value_cap: int = 1000) -> list[tuple[int, int, bytes, bytes]]:
    """(key_len, value_len, key copied, value copied) per entry of one scan op's output, given its caps."""
    found = []
    at = 0
    while at < len(output):
        key_len, value_len = struct.unpack_from("<II", output, at)
        at += 8
        key = output[at:at + min(key_len, key_cap)]
        at += len(key)
        value = output[at:at + min(value_len, value_cap)]
        at += len(value)
        found.append((key_len, value_len, key, value))
    return found


def pairs(output: bytes) -> list[tuple[bytes, bytes]]:
    """(key, value) of each entry of one uncapped scan op's output."""
    return [(key, value) for _, _, key, value in parse_scan(output)]


@dataclass
class Model:
    """Committed state as a dict; :meth:`run` applies a script as one serial call (no caps, no gas)."""

    state: dict[bytes, bytes] = field(default_factory=dict)

    def view(self, writes: dict[bytes, bytes | None], start: bytes, end: bytes,
             order: int) -> list[tuple[bytes, bytes]]:
        merged = dict(self.state)
        for key, value in writes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        keys = sorted(k for k in merged if start <= k and (not end or k < end))
        return [(k, merged[k]) for k in (reversed(keys) if order else keys)]

    def count_insert(self, limit: int, start: bytes, end: bytes, key: bytes) -> int:
        """The C op alone as one call: the count it outputs (and the insert it makes)."""
        count = len(self.view({}, start, end, 0))
        if count < limit:
            self.state[key] = key
        return count


def wait(turns: int) -> bytes:
    """Spin ``turns`` * 1024 loop turns."""
    return b"W" + struct.pack("<H", turns)
