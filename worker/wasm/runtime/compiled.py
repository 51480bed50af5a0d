"""Explicit compilation: a decoded module becomes the code its instances run.

:func:`compile` makes a :class:`~..compiler.CompiledModule` for one variant
(``metered``: gas-charging code, what the worker runs; or plain) and one
register limit, with the spec's float semantics or canonical NaNs
(``canonical_nans``, see :func:`compile`). Instances made from it share its
code objects, so a module compiled once serves any number of instances. The engine keeps no cache of
its own: whoever compiles holds the result as long as it wants (the worker
keeps it in its module cache, next to the decoded module), and
``instantiate`` given a plain ``Module`` compiles it for that one instance.

Modules with at most :data:`EAGER_CODE_BYTES` of code are compiled whole
(every compile error surfaces at once, no first-call delay); larger ones
compile each function on its first call.
"""

from __future__ import annotations

from ..compiler import CompiledModule, check_all_registers
from ..module import Module
from .limits import DEFAULT_RUNTIME_LIMITS, RuntimeLimits

EAGER_CODE_BYTES = 256 * 1024  # modules with less code are compiled whole, not function by function


def compile(module: Module, *, metered: bool, limits: RuntimeLimits | None = None,
            canonical_nans: bool = False) -> CompiledModule:
    """``module`` compiled for the ``metered`` variant within ``limits.max_registers``.

    ``canonical_nans``: every instruction that can produce a NaN from
    arithmetic (``add sub mul div sqrt min max ceil floor trunc nearest``,
    ``demote``, ``promote``) gives the positive canonical NaN (f32
    ``0x7FC00000``, f64 ``0x7FF8000000000000``), so that results do not depend
    on the CPU; bit operations (``neg abs copysign``, reinterpretations,
    loads, stores, ``select``, locals, globals, constants) keep their bits.
    The default is the spec's behaviour (NaN results as the hardware makes them).

    Raises ``CompileError`` (a ``LinkError``) for a function the compiler
    refuses: over the register limit, or nested too deeply.
    """
    compiled = CompiledModule(module, metered, (limits or DEFAULT_RUNTIME_LIMITS).max_registers,
                              canonical_nans)
    compile_small(compiled)
    return compiled


def compile_small(compiled: CompiledModule) -> None:
    """Compile every function now if the module is small (see the module docstring); else leave it lazy."""
    if compiled.code_bytes <= EAGER_CODE_BYTES and len(compiled.codes) < len(compiled.module.funcs):
        compiled.compile_all()


def check_variant(compiled: CompiledModule, metered: bool, canonical_nans: bool = False) -> None:
    """ValueError unless ``compiled`` is the variant an instance needs.

    Metered iff the instance has a gas limit; canonical NaNs iff the instance
    asks for them (a module compiled with the other float semantics would
    silently give the other results).
    """
    if compiled.metered != metered:
        have, need = _VARIANTS[compiled.metered], _VARIANTS[metered]
        raise ValueError(f"the module was compiled {have}, the instance needs it {need}: "
                         f"compile with metered={metered} (metered iff a gas_limit is given)")
    if compiled.canonical_nans != canonical_nans:
        raise ValueError(f"the module was compiled with canonical_nans={compiled.canonical_nans}, "
                         f"the instance asks for canonical_nans={canonical_nans}: "
                         f"compile with canonical_nans={canonical_nans}")


def check_limits(compiled: CompiledModule, limits: RuntimeLimits) -> None:
    """Apply ``limits.max_registers`` when it is stricter than the limit ``compiled`` was checked against."""
    if limits.max_registers < compiled.max_registers:
        check_all_registers(compiled.module, limits.max_registers)


_VARIANTS = {True: "metered", False: "unmetered"}

__all__ = ["EAGER_CODE_BYTES", "CompiledModule", "check_limits", "check_variant", "compile", "compile_small"]
