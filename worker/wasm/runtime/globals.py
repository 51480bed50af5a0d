"""Globals: a cell holding one value in the runtime representation.

Compiled code reads and writes mutable globals through the cell's ``v``
attribute (``gb3.v``), so a global shared between linked instances is one
object; immutable globals are copied into each importer's namespace as plain
values.
"""

from __future__ import annotations

from typing import Any

from ..types import GlobalType, ValType
from .values import FROM_BITS, TO_BITS, TO_PUBLIC, TO_RUNTIME, ZERO


class Global:
    """A global variable (the public ``wasm.Global``)."""

    __slots__ = ("type", "v")

    def __init__(self, valtype: str, value: Any = None, mutable: bool = False) -> None:
        vtype = ValType(valtype)
        if vtype is ValType.V128:
            raise ValueError("v128 globals are not supported")
        self.type = GlobalType(vtype, mutable)
        self.v: Any = ZERO[vtype] if value is None and vtype.is_num else TO_RUNTIME[vtype](value)

    @classmethod
    def of_runtime(cls, gtype: GlobalType, value: Any) -> Global:
        """A global holding an already converted runtime value."""
        glob = cls.__new__(cls)
        glob.type = gtype
        glob.v = value
        return glob

    @property
    def value(self) -> Any:
        """The value as a public Python value (signed ints, floats, references)."""
        return TO_PUBLIC[self.type.valtype](self.v)

    @value.setter
    def value(self, value: Any) -> None:
        if not self.type.mutable:
            raise AttributeError("cannot set an immutable global")
        self.v = TO_RUNTIME[self.type.valtype](value)

    @property
    def raw(self) -> Any:
        """The value's bit pattern (unsigned ints; references as they are)."""
        return TO_BITS[self.type.valtype](self.v)

    @raw.setter
    def raw(self, bits: Any) -> None:
        if not self.type.mutable:
            raise AttributeError("cannot set an immutable global")
        self.v = FROM_BITS[self.type.valtype](bits)

    def __repr__(self) -> str:
        mut = "mut " if self.type.mutable else ""
        return f"<Global {mut}{self.type.valtype} {self.value!r}>"
