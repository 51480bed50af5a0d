"""The engine's runtime: instances and the objects they share.

``compile`` turns a decoded module into the code its instances share (see
:mod:`.compiled`); ``instantiate`` links a compiled (or decoded) module
with its imports and runs it (see :mod:`.instance`); :class:`Memory`,
:class:`Table`, :class:`Global` and :class:`Function` are both what
instances export and what embedders build or pass as imports; :func:`host`
marks a Python function that wants a :class:`Caller`; :class:`RuntimeLimits` bounds what an instance may do.
"""

from ..compiler import CompiledModule
from .compiled import compile
from .functions import Caller, Function, HostFunc, host
from .gas import GasMeter
from .globals import Global
from .instance import Instance, instantiate
from .limits import DEFAULT_RUNTIME_LIMITS, RuntimeLimits
from .memory import Memory
from .table import Table

__all__ = [
    "DEFAULT_RUNTIME_LIMITS",
    "Caller",
    "CompiledModule",
    "Function",
    "GasMeter",
    "Global",
    "HostFunc",
    "Instance",
    "Memory",
    "RuntimeLimits",
    "Table",
    "compile",
    "host",
    "instantiate",
]
