"""The engine's runtime: instances and the objects they share.

``instantiate`` links a decoded module with its imports and runs it (see
:mod:`.instance`); :class:`Memory`, :class:`Table`, :class:`Global` and
:class:`Function` are both what instances export and what embedders build
or pass as imports; :func:`host` marks a Python function that wants a
:class:`Caller`; :class:`RuntimeLimits` bounds what an instance may do.
"""

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
    "Function",
    "GasMeter",
    "Global",
    "HostFunc",
    "Instance",
    "Memory",
    "RuntimeLimits",
    "Table",
    "host",
    "instantiate",
]
