"""Function objects, host functions and the boundary between Python and wasm.

Every wasm function, compiled or host, has one *raw callable* ``fn(d, *args)``:
``d`` is the stack budget left (frame units, see ``compiler.frames``: one
per frame, more for a large one) and the arguments and results are runtime
values (see ``values``); it returns None, one value or a tuple. Compiled
functions call each other's raw callables directly, so linking two instances
costs nothing at run time. A :class:`Function` (the funcref value, and what
exports hold) wraps one with its type, an interned signature id for
``call_indirect``, and the public calling conventions:

* ``f(*args)``: public values in and out, arity and types checked (TypeError);
* ``f.call_raw(bits)``: exact bit patterns in and out.

Both start the call at the instance's stack budget, or, when called from
inside a host function (re-entry), at the depth the wasm caller had left.
``RecursionError`` never escapes: it becomes :class:`StackExhausted`.

Host functions. ``host(fn, caller=True)`` marks a Python function that takes
a :class:`Caller` first (``caller.memory``, ``caller.gas``); a plain callable
is called with the arguments only. Either is typed by the import that
receives it: arguments are converted to public values, and the result is
checked against the declared results (a mismatch is a ``HOST`` trap).
Exceptions: a :class:`~..errors.WasmError` raised by a host (a trap, gas
exhaustion) propagates as it is, a ``RecursionError`` becomes
:class:`StackExhausted` (it never escapes); any other exception ends the wasm call and
reaches the caller of the export *unchanged* (the same exception object).
Internally it travels through the wasm frames inside :class:`HostError`, so
that the frames' own exception handlers (which turn ``IndexError`` into
memory traps) cannot mistake it for theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ..compiler.signatures import signature_id
from ..errors import StackExhausted, Trap, TrapKind, WasmError
from ..types import FuncType, ValType
from .values import FROM_BITS, TO_BITS, TO_PUBLIC, TO_RUNTIME, FuncRef, host_result

RawFn = Callable[..., Any]


class HostError(Trap):
    """Carries a host function's exception through wasm frames to the export boundary."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(TrapKind.HOST, f"host function raised {type(original).__name__}: {original}")
        self.original = original


class _CallState(threading.local):
    """Per thread: the depth left when wasm called a host function, and the re-entry count."""

    depth: int | None = None
    reentry: int = 0


_STATE = _CallState()


class Function(FuncRef):
    """A wasm function (compiled or host): the funcref value and the export object."""

    __slots__ = ("depth_limit", "fn", "instance", "reentry_limit", "sig", "type")

    def __init__(self, ftype: FuncType, fn: RawFn, depth_limit: int, reentry_limit: int,
                 instance: Any = None, sig: int | None = None) -> None:
        """``sig``: ``signature_id(ftype)`` when the caller knows it already (instantiation does)."""
        self.type = ftype
        self.sig = signature_id(ftype) if sig is None else sig
        self.fn = fn
        self.depth_limit = depth_limit
        self.reentry_limit = reentry_limit
        self.instance = instance

    def __call__(self, *args: Any) -> Any:
        params = self.type.params
        if len(args) != len(params):
            raise TypeError(f"function {self.type} takes {len(params)} arguments, got {len(args)}")
        raw = [TO_RUNTIME[t](a) for t, a in zip(params, args, strict=True)]
        return self._results(self.invoke(raw), TO_PUBLIC)

    def call_raw(self, args: Sequence[Any]) -> Any:
        """Call with bit patterns; returns None, one bit pattern or a tuple of them."""
        params = self.type.params
        if len(args) != len(params):
            raise TypeError(f"function {self.type} takes {len(params)} arguments, got {len(args)}")
        raw = [FROM_BITS[t](a) for t, a in zip(params, args, strict=True)]
        return self._results(self.invoke(raw), TO_BITS)

    def _results(self, result: Any, table: dict[ValType, Callable[[Any], Any]]) -> Any:
        results = self.type.results
        if len(results) == 1:
            return table[results[0]](result)
        if not results:
            return None
        return tuple(table[t](v) for t, v in zip(results, result, strict=True))

    def invoke(self, raw: Sequence[Any]) -> Any:
        """Run the function on runtime values at the boundary (depth, host errors, recursion)."""
        state = _STATE
        outer = state.depth
        if outer is None:
            depth = self.depth_limit
        else:
            depth = min(outer - 1, self.depth_limit)
            if depth <= 0 or state.reentry >= self.reentry_limit:
                raise StackExhausted("host functions re-entered wasm too deeply")
        state.depth = None
        state.reentry += 1
        failure: BaseException | None = None
        try:
            return self.fn(depth, *raw)
        except HostError as exc:
            failure = exc.original
        except RecursionError:
            failure = StackExhausted("the Python recursion limit was reached")
        finally:
            state.depth = outer
            state.reentry -= 1
        raise failure

    def __repr__(self) -> str:
        return f"<Function {self.type}>"


class HostFunc:
    """A Python function marked by :func:`host`; typed when it is imported."""

    __slots__ = ("caller", "fn")

    def __init__(self, fn: Callable[..., Any], caller: bool) -> None:
        self.fn = fn
        self.caller = caller

    def __repr__(self) -> str:
        return f"<host {getattr(self.fn, '__name__', self.fn)!r} caller={self.caller}>"


def host(fn: Callable[..., Any], caller: bool = True) -> HostFunc:
    """Mark ``fn`` as a host function; with ``caller`` it gets a :class:`Caller` first."""
    if not callable(fn):
        raise TypeError("host() needs a callable")
    return HostFunc(fn, caller)


class Caller:
    """What a host function sees of the instance that called it: valid while the host function runs.

    As wasmtime's ``Caller``, it is not to be kept past the call: an
    instance maker's next instance takes over its released instance's
    caller (``runtime.maker``, *shells*), so a kept one may name a later
    instance, or none.
    """

    __slots__ = ("_instance",)

    def __init__(self, instance: Any) -> None:
        self._instance = instance

    @property
    def memory(self) -> Any:
        """The calling instance's memory (its exported memory, else memory 0), or None."""
        return self._instance.memory

    @property
    def gas(self) -> Any:
        """The calling instance's gas meter (``charge(n)``, ``used``, ``remaining``)."""
        return self._instance.meter

    @property
    def instance(self) -> Any:
        return self._instance


def host_entry(fn: Callable[..., Any], ftype: FuncType, sig: int, *, with_caller: bool) -> RawFn:
    """The callable running Python ``fn`` as a wasm function of type ``ftype`` (signature id ``sig``).

    Without a caller it is the raw callable ``(d, *args)`` itself, which any
    number of instances may share; with one it takes the instance's
    :class:`Caller` first (``(caller, d, *args)``), so that each instance
    binds it as a method of its caller (``types.MethodType``: one small
    object, called without copying the arguments) instead of making a new
    closure, and the conversions are made once per function, not per instance.
    """
    to_public, convert = _host_shape(ftype, sig)

    def call(caller: Caller | None, d: int, *args: Any) -> Any:
        state = _STATE
        saved = state.depth
        state.depth = d
        try:
            public = [c(a) for c, a in zip(to_public, args, strict=True)]
            value = fn(caller, *public) if caller is not None else fn(*public)
        except WasmError:
            raise
        except RecursionError:
            raise StackExhausted("the Python recursion limit was reached in a host function") from None
        except Exception as exc:
            raise HostError(exc) from exc
        finally:
            state.depth = saved
        return convert(value)

    return call if with_caller else partial(call, None)


_HOST_SHAPES: dict[int, tuple[list[Callable[[Any], Any]], Callable[[Any], Any]]] = {}


def _host_shape(ftype: FuncType, sig: int) -> tuple[list[Callable[[Any], Any]], Callable[[Any], Any]]:
    """The argument and result converters of a host function of type ``ftype`` (made once per signature)."""
    shape = _HOST_SHAPES.get(sig)
    if shape is None:
        shape = _HOST_SHAPES[sig] = ([TO_PUBLIC[t] for t in ftype.params], _result_converter(ftype.results))
    return shape


def _result_converter(results: tuple[ValType, ...]) -> Callable[[Any], Any]:
    if not results:
        def none(value: Any) -> None:
            if value is not None:
                raise Trap(TrapKind.HOST, f"host function returned {value!r}, expected no result")
        return none
    if len(results) == 1:
        vtype = results[0]
        return lambda value: host_result(vtype, value)

    def many(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, tuple | list) or len(value) != len(results):
            raise Trap(TrapKind.HOST, f"host function returned {value!r}, expected {len(results)} results")
        return tuple(host_result(t, v) for t, v in zip(results, value, strict=True))
    return many
