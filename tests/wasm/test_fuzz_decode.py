"""Fuzzing the decoder (and the validator behind it) with one invariant.

Any byte string either decodes to a :class:`Module` or raises a
:class:`WasmError` (DecodeError, ValidationError, ...): never an
IndexError, struct.error, UnicodeDecodeError, RecursionError, MemoryError,
OverflowError or ValueError, and never a hang. Four input families: random
bytes, a valid header followed by random bytes, real modules truncated at
random points, and real modules with random byte edits. Real modules come
from a deterministic sample of the spec suite's binaries (when present) and
``tests/fixtures/*.wasm``.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, spec_dir
from wasmpool.wasm import Module, WasmError, decode

HEADER = b"\0asm\x01\0\0\0"
SPEC_SAMPLE = 120  # spec binaries in the corpus
MAX_CORPUS_FILE = 64 * 1024  # keep each example quick
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pytestmark = pytest.mark.timeout(60)


@functools.cache
def corpus() -> tuple[bytes, ...]:
    """Real modules: an evenly spaced sample of the spec suite's binaries, plus the fixtures."""
    files = sorted(FIXTURES.glob("*.wasm"))
    root = spec_dir()
    if root is not None:
        spec = sorted(p for p in root.glob("*/*.wasm") if not p.parent.name.startswith("simd"))
        step = max(1, len(spec) // SPEC_SAMPLE)
        files.extend(spec[::step])
    blobs = (f.read_bytes() for f in files)
    return tuple(b for b in blobs if len(b) <= MAX_CORPUS_FILE)


needs_corpus = pytest.mark.skipif(not corpus(), reason="no real modules: neither spec data nor fixtures")


def real_modules() -> st.SearchStrategy[bytes]:
    return st.sampled_from(corpus())


def decodes_or_rejects(data: bytes) -> None:
    """The invariant: a Module, or a WasmError; anything else propagates and fails the test."""
    try:
        module = decode(data)
    except WasmError:
        return
    assert isinstance(module, Module)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    decodes_or_rejects(data)


@FUZZ
@given(st.binary(max_size=512))
def test_header_then_random_bytes(tail: bytes) -> None:
    decodes_or_rejects(HEADER + tail)


@needs_corpus
@FUZZ
@given(st.data())
def test_truncated_real_modules(data: st.DataObject) -> None:
    blob = data.draw(real_modules(), label="module")
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)), label="cut")
    decodes_or_rejects(blob[:cut])


EDITS = st.lists(
    st.tuples(st.sampled_from(("replace", "insert", "delete")), st.integers(min_value=0, max_value=1 << 20),
              st.integers(min_value=0, max_value=255)),
    min_size=1, max_size=8,
)


def apply_edits(blob: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    """Replace, insert or delete single bytes at positions taken modulo the current length."""
    out = bytearray(blob)
    for kind, where, value in edits:
        pos = where % (len(out) + 1)
        if kind == "insert":
            out.insert(pos, value)
        elif pos < len(out):
            if kind == "replace":
                out[pos] = value
            else:
                del out[pos]
    return bytes(out)


@needs_corpus
@FUZZ
@given(st.data())
def test_mutated_real_modules(data: st.DataObject) -> None:
    blob = data.draw(real_modules(), label="module")
    edits = data.draw(EDITS, label="edits")
    decodes_or_rejects(apply_edits(blob, edits))


def test_edits_change_the_module() -> None:
    assert apply_edits(b"abc", [("replace", 1, 0x7A), ("insert", 0, 0x30), ("delete", 3, 0)]) == b"0az"
