"""The wasmpool WebAssembly engine: decode, validate, compile to Python, run.

A core with no I/O: bytes in, a ``Module`` or a typed ``WasmError`` out;
instances run functions that the register compiler turned into Python.
"""

from .decoder import decode
from .errors import (
    DecodeError,
    GasExhausted,
    LimitError,
    LinkError,
    StackExhausted,
    Trap,
    TrapKind,
    UnsupportedFeature,
    ValidationError,
    WasmError,
)
from .limits import DEFAULT_LIMITS, DecodeLimits
from .module import Module
from .runtime import (
    Caller,
    Function,
    GasMeter,
    Global,
    Instance,
    Memory,
    RuntimeLimits,
    Table,
    host,
    instantiate,
)
from .types import ExternKind, FuncType, GlobalType, Limits, MemType, TableType, ValType

__all__ = [
    "DEFAULT_LIMITS",
    "Caller",
    "DecodeError",
    "DecodeLimits",
    "ExternKind",
    "FuncType",
    "Function",
    "GasExhausted",
    "GasMeter",
    "Global",
    "GlobalType",
    "Instance",
    "LimitError",
    "Limits",
    "LinkError",
    "MemType",
    "Memory",
    "Module",
    "RuntimeLimits",
    "StackExhausted",
    "Table",
    "TableType",
    "Trap",
    "TrapKind",
    "UnsupportedFeature",
    "ValType",
    "ValidationError",
    "WasmError",
    "decode",
    "host",
    "instantiate",
]
