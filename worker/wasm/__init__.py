"""The wasmpool WebAssembly engine: decode, validate, compile to Python, run.

A core with no I/O: bytes in, a ``Module`` or a typed ``WasmError`` out;
``compile(module, metered=...)`` turns it into a ``CompiledModule`` (the
register compiler makes each function a Python function), and instances
made from it by ``instantiate`` share that code. The engine keeps no cache:
the caller holds what it compiled. Nor does it change process-wide state:
the process that runs it calls ``prepare_process(limits)`` once at start
(Python's recursion limit); a library call that finds the limit too low
raises ``RecursionLimitTooLow``, naming that fix.
"""

from .decoder import decode
from .errors import (
    DecodeError,
    GasExhausted,
    LimitError,
    LinkError,
    RecursionLimitTooLow,
    StackExhausted,
    Trap,
    TrapKind,
    UnsupportedFeature,
    ValidationError,
    WasmError,
)
from .limits import DEFAULT_LIMITS, DecodeLimits
from .module import Module
from .prepare import prepare_process, recursion_needed
from .runtime import (
    Caller,
    CompiledModule,
    Function,
    GasMeter,
    Global,
    Instance,
    Memory,
    RuntimeLimits,
    Table,
    compile,
    host,
    instantiate,
)
from .serialize import (
    ArtifactCorrupt,
    ArtifactError,
    ArtifactMismatch,
    deserialize_compiled,
    serialize_compiled,
)
from .types import ExternKind, FuncType, GlobalType, Limits, MemType, TableType, ValType
from .versions import SEMANTICS_VERSION

__all__ = [
    "DEFAULT_LIMITS",
    "SEMANTICS_VERSION",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactMismatch",
    "Caller",
    "CompiledModule",
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
    "RecursionLimitTooLow",
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
    "compile",
    "decode",
    "deserialize_compiled",
    "host",
    "instantiate",
    "prepare_process",
    "recursion_needed",
    "serialize_compiled",
]
