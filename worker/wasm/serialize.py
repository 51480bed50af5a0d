"""A compiled module as bytes, and back: what a compiled-code cache stores.

:func:`serialize_compiled` turns a :class:`CompiledModule` into one blob;
:func:`deserialize_compiled` makes an equivalent compiled module from it
without decoding, validating or compiling anything (as wasmtime's
``Module::serialize`` / ``Module::deserialize``). No I/O: bytes in, bytes
out; where the bytes are kept is the caller's business.

A module is stored whole (every function compiled) or, when the caller
gives the module's bytes (``source``), **partial**: the functions compiled
so far plus the module's bytes. A large module compiles each function on
its first call (``runtime.compiled.EAGER_CODE_BYTES``); compiling all of it
to store it would cost seconds of the call that first loads it (20 s for a
1.9 MB module), so its entry holds what that worker has compiled, and is
stored again as more functions compile. A partial blob loads as a
:class:`PartialModule`: the stored functions run as stored, and the first
request for any other function decodes the stored bytes again (what a
compilation would have done at load) and compiles it from them, with the
same compiler, limits, variant and entry prices, so the loaded module
behaves exactly as the module compiled now would.

**Deserialize only bytes you trust.** The blob holds marshalled Python code
objects (and a pickled module description): loading it runs no wasm
validation and executes whatever code it holds. It is meant for bytes this
engine wrote itself into storage that only the same user can write.

The blob::

    magic "WPCM" | format version (u16) | variant flags (u8) | Python bytecode magic (4 bytes) | payload

The payload is ``marshal`` data: the code object and float constants of
every function stored, the module's instantiation price, its register limit
and code size, the decoded module pickled *without* function bodies and
custom sections (an instance needs types, imports, tables, memories,
globals, exports, segments and names, never a body once a function is
compiled), the module's bytes for a partial blob (empty for a whole
one), and the instance maker's source and code object once the module has
one (``runtime.maker``; loading it saves compiling that source again).
Pickling the slim module loads faster than decoding the wasm again (0.05 s
against 1.6 s for a 1.9 MB module, see ``bench/pool/cold_start.py``).

A blob made for another format version, another variant (metered, canonical
NaNs) or another CPython bytecode is refused with :class:`ArtifactMismatch`;
one that cannot be read with :class:`ArtifactCorrupt`. Neither check is a
defence against forged bytes: an integrity check (a checksum) is the
storage's job.
"""

from __future__ import annotations

import io
import marshal
import pickle
import struct
import threading
from dataclasses import fields, is_dataclass, replace
from enum import IntFlag
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any

from .compiler import CompiledModule
from .decoder import decode
from .errors import WasmError
from .module import CodeInfo, Module
from .runtime.prepared import existing, prepared
from .runtime.setup_gas import instantiation_charge

FORMAT_VERSION = 4
"""Bump whenever the payload's layout or meaning changes (2: partial blobs, the module's bytes;
3: ``call_indirect`` code names its signature ids, ``sig{type index}``, instead of holding the
compiling process's interned ids, which another process may have given to other types; 4: the
instance maker)."""
MAGIC = b"WPCM"
_HEADER = struct.Struct("<4sHB4s")  # magic, format version, variant flags, CPython bytecode magic
PAYLOAD_FIELDS = 7  # codes, setup price, max registers, code bytes, slim module, source (partial only), maker


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
    return _VARIANTS[bool(metered), bool(canonical_nans)]


_VARIANTS = {  # (metered, canonical NaNs) -> flags, made once: IntFlag arithmetic is slow
    (metered, canonical): (Variant.METERED if metered else Variant(0))
    | (Variant.CANONICAL_NANS if canonical else Variant(0))
    for metered in (False, True) for canonical in (False, True)}


def serialize_compiled(compiled: CompiledModule, source: bytes | None = None) -> bytes:
    """The blob of a compiled module: whole, or partial when ``source`` (the module's bytes) is given.

    Without ``source`` every function is compiled first (``compile_all``)
    and the blob is whole. With it, the blob holds the functions compiled
    so far and ``source`` (whole anyway if every function is compiled);
    ``source`` must be the bytes ``compiled`` was decoded from. A
    :class:`PartialModule` passes its own bytes on when none are given.
    A metered module's instantiation price is computed now, so a loaded
    module never counts its entries again.
    """
    if source is None and isinstance(compiled, PartialModule):
        source = compiled.source
    if source is None:
        compiled.compile_all()
    module = compiled.module
    price = compiled.setup_price
    if compiled.metered and price is None:
        price = compiled.setup_price = instantiation_charge(module)
    codes = {index: (code, dict(constants)) for index, (code, constants) in list(compiled.codes.items())}
    whole = len(codes) == len(module.funcs)
    payload = (codes, price, compiled.max_registers, compiled.code_bytes, dump_module(slim_module(module)),
               b"" if whole or source is None else bytes(source), maker_of(compiled))
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, int(variant_of(compiled)), MAGIC_NUMBER)
    return header + marshal.dumps(payload)


def deserialize_compiled(data: bytes | memoryview, *, metered: bool,
                         canonical_nans: bool = False) -> CompiledModule:
    """The compiled module a blob holds, for the variant the caller needs. **Trusted bytes only.**

    A partial blob gives a :class:`PartialModule`. ArtifactMismatch: another
    format version, variant or CPython bytecode; ArtifactCorrupt: not a
    blob this engine wrote.
    """
    check_header(data, variant(metered=metered, canonical_nans=canonical_nans))
    try:
        payload = marshal.loads(memoryview(data)[_HEADER.size:])
        codes, price, max_registers, code_bytes, module_bytes, source, maker = _fields(payload)
        module = pickle.loads(module_bytes)
    except Exception as exc:  # damaged marshal or pickle data raises nearly anything
        raise ArtifactCorrupt(f"the serialized module cannot be read: {exc}") from None
    if not isinstance(module, Module) or not _valid_codes(codes, module, whole=not source):
        raise ArtifactCorrupt("the serialized module's contents are not a compiled module")
    args = (module, bool(metered), max_registers, bool(canonical_nans))  # the blob's flags (checked)
    compiled = PartialModule(*args, source=source) if source else CompiledModule(*args)
    compiled.codes.update(codes)
    compiled.setup_price = price
    compiled.code_bytes = code_bytes
    if maker is not None:
        _keep_maker(compiled, maker)
    return compiled


def _keep_maker(compiled: CompiledModule, maker: tuple[str, CodeType]) -> None:
    """Give the module's :class:`Prepared` (made now rather than at the first instantiation) its maker.

    A module that cannot be prepared here keeps no maker: its first
    instantiation says why, as it would for a module compiled now.
    """
    try:
        prepared(compiled).maker_code = maker
    except WasmError:
        pass


def maker_of(compiled: CompiledModule) -> tuple[str, CodeType] | None:
    """The (source, code object) of ``compiled``'s instance maker (``runtime.maker``), if it has made one.

    Stored with the module, so that a process loading it skips compiling
    the maker's source (0.6 ms for the token contract) when its instances
    need that very source again; see ``runtime.maker._code``.
    """
    prep = existing(compiled)
    return None if prep is None else prep.maker_code


class PartialModule(CompiledModule):
    """A compiled module loaded from a partial blob: some functions stored, the others compiled on demand.

    Its module starts slim (no bodies); the first request for a function
    not stored decodes ``source`` (the module's bytes, as the blob holds
    them) and takes the decoded module, with everything compiling reads
    of it (:class:`ModuleInfo`, the entry prices of direct functions),
    from a fresh :class:`CompiledModule` of the same variant and register
    limit, as :func:`runtime.compiled.compile` would make; the stored code
    objects stay. From then on it compiles exactly as that module would.
    """

    def __init__(self, module: Module, metered: bool, max_registers: int, canonical_nans: bool = False,
                 *, source: bytes) -> None:
        super().__init__(module, metered, max_registers, canonical_nans)
        self.source = source
        self.decoded = False  # whether ``module`` has its bodies again
        self._decoding = threading.Lock()

    def code(self, index: int) -> tuple[CodeType, dict[str, float]]:
        """The code object of ``f{index}``: stored, or compiled now from the decoded bodies."""
        found = self.codes.get(index)
        if found is not None:
            return found
        if not self.decoded:
            self.decode_bodies()
        return super().code(index)

    def decode_bodies(self) -> None:
        """Decode ``source`` again and compile from it from now on (ArtifactCorrupt if it does not decode).

        The stored bytes passed a checksum and decoded once before, so a
        failure here means damaged storage or another engine, never a bad
        contract: it is an artifact error, not a decode error of the call.
        """
        with self._decoding:
            if self.decoded:
                return
            try:
                module = decode(self.source)
                fresh = CompiledModule(module, self.metered, self.max_registers, self.canonical_nans)
            except (WasmError, RecursionError) as exc:
                raise ArtifactCorrupt(f"the stored module's bytes cannot be compiled again: {exc}") from None
            if fresh.code_bytes != self.code_bytes or len(module.funcs) != len(self.module.funcs):
                raise ArtifactCorrupt("the stored module's bytes are not the module it was compiled from")
            self.module, self.info, self.view = fresh.module, fresh.info, fresh.view
            self.prepay = fresh.prepay
            self.decoded = True


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
    return wanted


def slim_module(module: Module) -> Module:
    """The module without what only compiling and tools read: bodies, stack heights, custom sections.

    Local declarations, body sizes and the deepest stack height stay: the
    register limit is checked from them when a loaded module is instantiated
    under a stricter limit.
    """
    funcs = tuple(replace(func, body=()) for func in module.funcs)
    infos = tuple(CodeInfo((), info.max_height) for info in module.code_info)
    return replace(module, funcs=funcs, code_info=infos, customs=())


def dump_module(module: Module) -> bytes:
    """``module`` pickled so that it loads fast: each dataclass object as a call of its class.

    The default pickling of a slotted dataclass restores each object through
    ``__setstate__``, a Python loop that looks up the class's fields again
    for every object; a constructor call with the field values loads the
    same objects in about a fifth of the time (0.17 ms against 0.33 ms for
    the token's module, 1 ms against 4.7 ms for a 197 KiB one), which is
    most of what a module costs to load from disk.
    """
    buffer = io.BytesIO()
    _ModulePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(module)
    return buffer.getvalue()


class _ModulePickler(pickle.Pickler):
    """Pickles dataclass objects whose fields are all ``__init__`` arguments as calls of their class."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if not is_dataclass(cls) or isinstance(obj, type):
            return NotImplemented
        names = _INIT_FIELDS.get(cls)
        if names is None:
            every = fields(cls)
            names = _INIT_FIELDS[cls] = tuple(f.name for f in every) if all(f.init for f in every) else ()
        if not names:
            return NotImplemented
        return cls, tuple(getattr(obj, name) for name in names)


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's fields in order, () if one is not an argument


def _fields(payload: Any) -> tuple[dict[int, tuple[CodeType, dict[str, float]]], int | None, int, int,
                                   bytes, bytes, tuple[str, CodeType] | None]:
    """The payload's fields, checked for shape (ArtifactCorrupt otherwise)."""
    if not isinstance(payload, tuple) or len(payload) != PAYLOAD_FIELDS:
        raise ArtifactCorrupt("the serialized module's payload has the wrong shape")
    codes, price, max_registers, code_bytes, module_bytes, source, maker = payload
    if not (isinstance(codes, dict) and (price is None or type(price) is int) and type(max_registers) is int
            and type(code_bytes) is int and isinstance(module_bytes, bytes) and isinstance(source, bytes)
            and (maker is None or _is_maker(maker))):
        raise ArtifactCorrupt("the serialized module's payload has fields of the wrong types")
    return codes, price, max_registers, code_bytes, module_bytes, source, maker


def _is_maker(maker: Any) -> bool:
    return (isinstance(maker, tuple) and len(maker) == 2 and isinstance(maker[0], str)
            and isinstance(maker[1], CodeType))


def _valid_codes(codes: dict[Any, Any], module: Module, *, whole: bool) -> bool:
    """Whether ``codes`` holds (code object, float constants) for module functions: each one if ``whole``."""
    first = module.num_imported_funcs
    defined = set(range(first, first + len(module.funcs)))
    stored = set(codes)
    if stored != defined and (whole or not stored <= defined):
        return False
    return all(isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], CodeType)
               and isinstance(entry[1], dict) for entry in codes.values())


__all__ = [
    "FORMAT_VERSION",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactMismatch",
    "PartialModule",
    "Variant",
    "deserialize_compiled",
    "dump_module",
    "maker_of",
    "serialize_compiled",
    "slim_module",
]
