"""Interned function signatures: one small int per distinct :class:`FuncType`.

``call_indirect`` must compare the callee's type with the expected one
structurally, across modules. Interning turns that into an int comparison
(``e.sig != 7``) that the compiler can write into the generated source: the
ids are process-wide and never reused, so code compiled once stays valid for
every instance.
"""

from __future__ import annotations

import threading

from ..types import FuncType

_IDS: dict[FuncType, int] = {}
_LOCK = threading.Lock()


def signature_id(ftype: FuncType) -> int:
    """The process-wide id of ``ftype`` (equal types, equal ids)."""
    sig = _IDS.get(ftype)
    if sig is None:
        with _LOCK:
            sig = _IDS.setdefault(ftype, len(_IDS))
    return sig
