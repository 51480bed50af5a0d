"""MappingState: a job's reader over a mapping of every namespace, for running calls without a broker."""

from __future__ import annotations

from wasmpool.worker.readers import MappingState

OWN, OTHER = "0a" * 20, "0b" * 20
STATE: dict[tuple[str, bytes], bytes | None] = {
    (OWN, b"a"): b"1", (OWN, b"b"): b"2", (OWN, b"c"): None, (OWN, b"d"): b"4",
    (OTHER, b"a"): b"x", (OTHER, b"z"): b"",
}


def test_get_reads_the_jobs_own_namespace_and_get_in_any_other() -> None:
    reader = MappingState(STATE, OWN)
    assert [reader.get(b"a"), reader.get(b"c"), reader.get(b"z")] == [b"1", None, None]
    others = [reader.get_in(OTHER, b"a"), reader.get_in(OTHER, b"z"), reader.get_in(OTHER, b"b")]
    assert others == [b"x", b"", None]


def test_scan_pages_a_namespace_in_either_order_skipping_absent_keys() -> None:
    reader = MappingState(STATE, OWN)
    assert reader.scan(b"", b"", 0, 10) == ([[b"a", b"1"], [b"b", b"2"], [b"d", b"4"]], False)
    assert reader.scan(b"", b"", 1, 2) == ([[b"d", b"4"], [b"b", b"2"]], True)
    assert reader.scan(b"b", b"d", 0, 10) == ([[b"b", b"2"]], False)
    assert reader.scan(b"", b"", 0, 10, space=OTHER) == ([[b"a", b"x"], [b"z", b""]], False)
