"""A compiled module as bytes, and back: what a compiled-code cache stores.

:func:`serialize_compiled` turns a wholly compiled :class:`CompiledModule`
into one blob; :func:`deserialize_compiled` makes an equivalent compiled
module from it without decoding, validating or compiling anything (as
wasmtime's ``Module::serialize`` / ``Module::deserialize``). No I/O: bytes
in, bytes out; where the bytes are kept is the caller's business.

**Deserialize only bytes you trust.** The blob holds marshalled Python code
objects (and a pickled module description): loading it runs no wasm
validation and executes whatever code it holds. It is meant for bytes this
engine wrote itself into storage that only the same user can write.

The blob::

    magic "WPCM" | format version (u16) | variant flags (u8) | Python bytecode magic (4 bytes) | payload

The payload is ``marshal`` data: the code object and float constants of
every function, the module's instantiation price, its register limit and
code size, and the decoded module pickled *without* function bodies and
custom sections (an instance needs types, imports, tables, memories,
globals, exports, segments and names, never a body once every function is
compiled). Pickling the slim module loads faster than decoding the wasm
again (0.05 s against 1.6 s for a 1.9 MB module, see ``bench/pool/cold_start.py``).

A blob made for another format version, another variant (metered, canonical
NaNs) or another CPython bytecode is refused with :class:`ArtifactMismatch`;
one that cannot be read with :class:`ArtifactCorrupt`. Neither check is a
defence against forged bytes: an integrity check (a checksum) is the
storage's job.
"""

from __future__ import annotations

import marshal
import pickle
import struct
from dataclasses import replace
from enum import IntFlag
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any

from .compiler import CompiledModule
from .errors import WasmError
from .module import CodeInfo, Module
from .runtime.setup_gas import instantiation_charge

FORMAT_VERSION = 1
"""Bump whenever the payload's layout or meaning changes."""
MAGIC = b"WPCM"
_HEADER = struct.Struct("<4sHB4s")  # magic, format version, variant flags, CPython bytecode magic
PAYLOAD_FIELDS = 5  # codes, setup price, max registers, code bytes, slim module


class Variant(IntFlag):
    """The variant flags a blob was compiled for; a loader must ask for exactly the same."""

    METERED = 1
    CANONICAL_NANS = 2


class ArtifactError(WasmError):
    """A serialized compiled module this engine cannot load."""


class ArtifactMismatch(ArtifactError):
    """The blob is well formed but made for another format version, variant or CPython."""


class ArtifactCorrupt(ArtifactError):
    """The blob is not a serialized compiled module (truncated, damaged, or something else)."""


def variant_of(compiled: CompiledModule) -> Variant:
    """The variant flags of a compiled module."""
    return variant(metered=compiled.metered, canonical_nans=compiled.canonical_nans)


def variant(*, metered: bool, canonical_nans: bool = False) -> Variant:
    """The flags for a loader's request."""
    return (Variant.METERED if metered else Variant(0)) | (
        Variant.CANONICAL_NANS if canonical_nans else Variant(0))


def serialize_compiled(compiled: CompiledModule) -> bytes:
    """The blob of a compiled module; every function is compiled first (``compile_all``).

    A metered module's instantiation price is computed now, so a loaded
    module never counts its entries again.
    """
    compiled.compile_all()
    module = compiled.module
    price = compiled.setup_price
    if compiled.metered and price is None:
        price = compiled.setup_price = instantiation_charge(module)
    codes = {index: (code, dict(constants)) for index, (code, constants) in compiled.codes.items()}
    payload = (codes, price, compiled.max_registers, compiled.code_bytes,
               pickle.dumps(slim_module(module), protocol=pickle.HIGHEST_PROTOCOL))
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, int(variant_of(compiled)), MAGIC_NUMBER)
    return header + marshal.dumps(payload)


def deserialize_compiled(data: bytes | memoryview, *, metered: bool,
                         canonical_nans: bool = False) -> CompiledModule:
    """The compiled module a blob holds, for the variant the caller needs. **Trusted bytes only.**

    ArtifactMismatch: another format version, variant or CPython bytecode;
    ArtifactCorrupt: not a blob this engine wrote.
    """
    flags = check_header(data, variant(metered=metered, canonical_nans=canonical_nans))
    try:
        payload = marshal.loads(memoryview(data)[_HEADER.size:])
        codes, price, max_registers, code_bytes, module_bytes = _fields(payload)
        module = pickle.loads(module_bytes)
    except Exception as exc:  # damaged marshal or pickle data raises nearly anything
        raise ArtifactCorrupt(f"the serialized module cannot be read: {exc}") from None
    if not isinstance(module, Module) or not _valid_codes(codes, module):
        raise ArtifactCorrupt("the serialized module's contents are not a compiled module")
    compiled = CompiledModule(module, bool(flags & Variant.METERED), max_registers,
                              bool(flags & Variant.CANONICAL_NANS))
    compiled.codes.update(codes)
    compiled.setup_price = price
    compiled.code_bytes = code_bytes
    return compiled


def check_header(data: bytes | memoryview, wanted: Variant) -> Variant:
    """The blob's flags, after checking its magic, format version, variant and CPython bytecode."""
    if len(data) < _HEADER.size:
        raise ArtifactCorrupt(f"a serialized module is at least {_HEADER.size} bytes, got {len(data)}")
    magic, version, flags, python = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ArtifactCorrupt("not a serialized compiled module (wrong magic)")
    if version != FORMAT_VERSION:
        raise ArtifactMismatch(f"serialized with format version {version}, not {FORMAT_VERSION}")
    if python != MAGIC_NUMBER:
        raise ArtifactMismatch("serialized by another CPython version (bytecode magic differs)")
    if flags != wanted:
        raise ArtifactMismatch(f"serialized for variant {Variant(flags)!r}, {wanted!r} is needed")
    return Variant(flags)


def slim_module(module: Module) -> Module:
    """The module without what only compiling and tools read: bodies, stack heights, custom sections.

    Local declarations, body sizes and the deepest stack height stay: the
    register limit is checked from them when a loaded module is instantiated
    under a stricter limit.
    """
    funcs = tuple(replace(func, body=()) for func in module.funcs)
    infos = tuple(CodeInfo((), info.max_height) for info in module.code_info)
    return replace(module, funcs=funcs, code_info=infos, customs=())


def _fields(payload: Any) -> tuple[dict[int, tuple[CodeType, dict[str, float]]], int | None, int, int, bytes]:
    """The payload's fields, checked for shape (ArtifactCorrupt otherwise)."""
    if not isinstance(payload, tuple) or len(payload) != PAYLOAD_FIELDS:
        raise ArtifactCorrupt("the serialized module's payload has the wrong shape")
    codes, price, max_registers, code_bytes, module_bytes = payload
    if not (isinstance(codes, dict) and (price is None or type(price) is int) and type(max_registers) is int
            and type(code_bytes) is int and isinstance(module_bytes, bytes)):
        raise ArtifactCorrupt("the serialized module's payload has fields of the wrong types")
    return codes, price, max_registers, code_bytes, module_bytes


def _valid_codes(codes: dict[Any, Any], module: Module) -> bool:
    """Whether ``codes`` holds one (code object, float constants) for each of the module's functions."""
    first = module.num_imported_funcs
    if set(codes) != set(range(first, first + len(module.funcs))):
        return False
    return all(isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], CodeType)
               and isinstance(entry[1], dict) for entry in codes.values())


__all__ = [
    "FORMAT_VERSION",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactMismatch",
    "Variant",
    "deserialize_compiled",
    "serialize_compiled",
    "slim_module",
]
