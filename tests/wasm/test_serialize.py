"""A serialized compiled module, loaded again, runs exactly as the module it was made from.

Every import-free module of the corpus, the engine fixtures and the engine
benchmarks is compiled, serialized and deserialized, metered and not; each
exported function is then called with the same arguments on an instance of
either, and the outcomes must be identical: results, trap kind and message,
gas used and the memory's contents afterwards. The blob's header refuses
another format version, variant or CPython, and damaged bytes are refused
as corrupt, never run.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm import serialize as ser

ROOT = Path(__file__).resolve().parent.parent.parent
FOLDERS = ("tests/corpus", "tests/fixtures/engine", "tests/fixtures", "bench/engine", "examples")
GAS_LIMIT = 300_000
ARGUMENTS = (0, 1, 7, -1)  # each call passes one of these in every parameter (converted to the type)
FLOAT_MODULES = ("numeric", "mandelbrot", "float", "nbody")  # also compared with canonical NaNs


def _paths() -> list[str]:
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.wasm")):
            module = _decoded(str(path.relative_to(ROOT)))
            if module is not None and not module.imports:
                found.append(str(path.relative_to(ROOT)))
    return sorted(set(found))


@functools.cache
def _decoded(relpath: str) -> wasm.Module | None:
    try:
        return wasm.decode((ROOT / relpath).read_bytes())
    except wasm.WasmError:
        return None


MODULES = _paths()


def _argument(valtype: wasm.ValType, value: int) -> Any:
    if valtype in (wasm.ValType.F32, wasm.ValType.F64):
        return float(value)
    if valtype.is_ref:
        return None
    return value


def _outcomes(compiled: wasm.CompiledModule, gas_limit: int | None,
              calls: set[tuple[str, int]] | None = None) -> list[Any]:
    """Exports called with each argument pattern on a fresh instance: what they returned or raised.

    ``calls``: only these (export, argument) pairs (the unmetered variant
    runs only the calls that ended within the metered one's gas: a
    benchmark export called with -1 may loop for a very long time).
    """
    seen: list[Any] = []
    for value in ARGUMENTS:
        try:
            inst = wasm.instantiate(compiled, {}, gas_limit=gas_limit, canonical_nans=compiled.canonical_nans)
        except wasm.WasmError as exc:
            seen.append(("instantiate", type(exc).__name__, str(exc)))
            continue
        for name, export in sorted(inst.exports.items()):
            if not isinstance(export, wasm.Function) or (calls is not None and (name, value) not in calls):
                continue
            args = [_argument(t, value) for t in export.type.params]
            try:
                outcome: Any = ("ok", _bits(export(*args)))
            except (wasm.Trap, wasm.GasExhausted, wasm.StackExhausted) as exc:
                outcome = ("trap", type(exc).__name__, getattr(exc, "kind", None), str(exc))
            memory = inst.memory
            digest = hashlib.sha256(memory.read(0, memory.size * 65536)).hexdigest() if memory else None
            seen.append((name, value, outcome, inst.gas_used, digest))
            if gas_limit is not None and inst.gas_used >= gas_limit:
                break  # the instance's budget is spent: the later exports would all run out at once
    return seen


def _bits(value: Any) -> Any:
    """A result with every float as its bit pattern (NaNs compare equal to themselves, payload included)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, tuple | list):
        return tuple(_bits(v) for v in value)
    return value


def _ended(outcomes: list[Any]) -> set[tuple[str, int]]:
    """The calls that ended (a result or a trap) within their gas."""
    return {(o[0], o[1]) for o in outcomes
            if len(o) == 5 and not (o[2][0] == "trap" and o[2][1] == "GasExhausted")}


@pytest.mark.parametrize("relpath", MODULES)
def test_a_deserialized_module_runs_as_the_compiled_one(relpath: str) -> None:
    module = _decoded(relpath)
    assert module is not None
    ended: set[tuple[str, int]] = set()
    canonical = (False, True) if any(word in relpath for word in FLOAT_MODULES) else (False,)
    for metered, canonical_nans in [(True, c) for c in canonical] + [(False, False)]:
        fresh = wasm.compile(module, metered=metered, canonical_nans=canonical_nans).compile_all()
        blob = wasm.serialize_compiled(wasm.compile(module, metered=metered, canonical_nans=canonical_nans))
        loaded = wasm.deserialize_compiled(blob, metered=metered, canonical_nans=canonical_nans)
        assert (loaded.metered, loaded.canonical_nans) == (metered, canonical_nans)
        assert set(loaded.codes) == set(fresh.codes)
        gas = GAS_LIMIT if metered else None
        expected = _outcomes(fresh, gas, None if metered else ended)
        assert _outcomes(loaded, gas, None if metered else ended) == expected
        if metered:
            ended = _ended(expected)


def test_the_modules_cover_the_corpus_and_the_fixtures() -> None:
    assert len([p for p in MODULES if p.startswith("tests/corpus")]) >= 20
    assert any(p.startswith("tests/fixtures") for p in MODULES)


def _token() -> wasm.CompiledModule:
    return wasm.compile(wasm.decode((ROOT / "examples/token.wasm").read_bytes()), metered=True)


def test_a_loaded_module_keeps_its_instantiation_price_and_holds_no_function_bodies() -> None:
    compiled = _token()
    loaded = wasm.deserialize_compiled(wasm.serialize_compiled(compiled), metered=True)
    assert loaded.setup_price == compiled.setup_price is not None
    assert all(func.body == () for func in loaded.module.funcs)
    assert loaded.module.imports == compiled.module.imports
    assert loaded.module.exports == compiled.module.exports


def test_the_variant_must_match() -> None:
    blob = wasm.serialize_compiled(_token())
    with pytest.raises(wasm.ArtifactMismatch, match="variant"):
        wasm.deserialize_compiled(blob, metered=False)
    with pytest.raises(wasm.ArtifactMismatch, match="variant"):
        wasm.deserialize_compiled(blob, metered=True, canonical_nans=True)


def _with_header(blob: bytes, **fields: Any) -> bytes:
    magic, version, flags, python = struct.unpack_from("<4sHB4s", blob)
    values = {"magic": magic, "version": version, "flags": flags, "python": python, **fields}
    header = struct.pack("<4sHB4s", values["magic"], values["version"], values["flags"], values["python"])
    return header + blob[len(header):]


def test_another_format_version_or_cpython_is_refused() -> None:
    blob = wasm.serialize_compiled(_token())
    with pytest.raises(wasm.ArtifactMismatch, match="format version"):
        wasm.deserialize_compiled(_with_header(blob, version=ser.FORMAT_VERSION + 1), metered=True)
    other = bytes([MAGIC_NUMBER[0] ^ 1]) + MAGIC_NUMBER[1:]
    with pytest.raises(wasm.ArtifactMismatch, match="CPython"):
        wasm.deserialize_compiled(_with_header(blob, python=other), metered=True)


@pytest.mark.parametrize("damage", ["truncated", "magic", "empty", "payload"])
def test_damaged_bytes_are_refused_as_corrupt(damage: str) -> None:
    blob = wasm.serialize_compiled(_token())
    bad = {
        "truncated": blob[: len(blob) // 2],
        "magic": b"XXXX" + blob[4:],
        "empty": b"",
        "payload": blob[:11] + b"\x00" * (len(blob) - 11),
    }[damage]
    with pytest.raises(wasm.ArtifactCorrupt):
        wasm.deserialize_compiled(bad, metered=True)


def test_the_flags_follow_the_compiled_module() -> None:
    assert ser.variant_of(_token()) == ser.Variant.METERED
    module = wasm.decode((ROOT / "tests/corpus/c/blake2.O2.wasm").read_bytes())
    canonical = wasm.compile(module, metered=False, canonical_nans=True)
    blob = wasm.serialize_compiled(canonical)
    assert wasm.deserialize_compiled(blob, metered=False, canonical_nans=True).canonical_nans
    with pytest.raises(wasm.ArtifactMismatch):
        wasm.deserialize_compiled(blob, metered=False)
    assert ser.variant(metered=True, canonical_nans=True) == ser.Variant.METERED | ser.Variant.CANONICAL_NANS
