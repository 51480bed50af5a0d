"""Running a job: from a job body, a state reader and the host ABI to its result (a FINAL's).

No socket here: what a call needs from the broker comes through its state
reader and its module source, both plain functions given by the caller.
A contract failure of any kind (trap, gas, revert, bad arguments, a bad
module, a time limit) becomes a result with a status, never an exception:
the worker's process never dies of a contract.

Every call first pays the load price of its module (per byte,
``wasmpool.wire.prices.load_gas``) on its own meter, before instantiation:
the same whether the worker compiled the module for it, had it cached or
fetched it, so gas never depends on a cache; so does every contract it
calls (``call_contract``, inside the callee's gas cap). Every result carries the
versions that decided it (:data:`Runtime.versions`).

The time limit is a SIGALRM timer (:mod:`wasmpool.worker.timelimit`), armed
when the call runs in a process's main thread that installed it; ``watch``
hears when computing starts and ends (in a worker, the session: the
heartbeat thread speaks for the worker meanwhile, the watchdog is armed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wasmpool import wasm
from wasmpool.wasm.types import ValType
from wasmpool.wire import errors, prices
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, Status
from wasmpool.worker import codes, timelimit
from wasmpool.worker.host import CallContext, CallState, Host, StateReader
from wasmpool.worker.modules import Loaded
from wasmpool.worker.readers import ChunkState, namespace
from wasmpool.worker.versions import WORKER_VERSIONS

MASKS = {ValType.I32: (1 << 32) - 1, ValType.I64: (1 << 64) - 1}

class ModuleSource(Protocol):
    """The module of a code id (for the call at a chunk position, or None), from a cache or the broker;
    ``called``: the module of a contract the call calls (``call_contract``), fetched by its code id."""

    def __call__(self, code_id: str, index: int | None, called: bool = False) -> Loaded: ...


class Watch(Protocol):
    """Told when a call starts computing (with its time limit) and when it stops."""

    def computing(self, timeout: float) -> None: ...

    def computed(self) -> None: ...


class _Unwatched:
    def computing(self, timeout: float) -> None:
        pass

    def computed(self) -> None:
        pass


UNWATCHED = _Unwatched()


@dataclass(frozen=True, slots=True)
class Runtime:
    """What every call of one process shares: the host ABI and its import object, the watch, and what
    a result may use of a FINAL under the limits the broker reads the worker's messages with."""

    host: Host
    imports: dict[str, dict[str, Any]]
    watch: Watch = UNWATCHED
    room: m.Footprint = m.DEFAULT_ROOM  # what a result may use of a FINAL
    versions: dict[str, int | str] = field(default_factory=WORKER_VERSIONS.as_dict)  # stamped on results

    @classmethod
    def of(cls, host: Host, watch: Watch = UNWATCHED, limits: p.ProtocolLimits = p.DEFAULT_LIMITS) -> Runtime:
        return cls(host, host.imports(), watch, m.result_room(limits))


def execute(job: dict[str, Any], reader: StateReader, modules: ModuleSource, runtime: Runtime,
            index: int | None = None) -> m.CallResult:
    """Run one job (or call ``index`` of a chunk); every outcome, good or bad, becomes a result.

    A result too large for a FINAL (``runtime.room``) becomes
    RESULT_TOO_LARGE (:func:`~wasmpool.wire.messages.fitting`).
    """
    call = CallState(reader=reader, input=job.get("input", b""),
                     context=CallContext(**job.get("context", {})), readonly=job["readonly"],
                     address=job.get("address", b""), space=namespace(job))
    call.tx.modules = lambda code_id: modules(code_id, index, True)
    box: dict[str, Any] = {}
    watch, limit, alarm = runtime.watch, job["timeout"], timelimit.alarm_ready()
    try:
        watch.computing(limit)
        if alarm:  # CallTimeout is raised inside the call after ``limit`` seconds
            timelimit.arm(limit)
        try:
            results = _run(job, call, box, modules, runtime, index)
        finally:  # inside the outer try: an alarm due just now still becomes a result
            if alarm:
                timelimit.arm(0)
            watch.computed()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        result = failure(exc, call, box.get("instance"), job["gas_limit"], box.get("load", 0),
                         runtime.versions)
        return m.fitting(result, runtime.room)
    finally:
        runtime.host.end()
        if "instance" in box:  # freed now, not by the cycle collector (its gas_used stays readable)
            box["instance"].release()
    result = _success(results, call, box["instance"], box["load"], runtime.versions)
    return m.fitting(result, runtime.room)


def _run(job: dict[str, Any], call: CallState, box: dict[str, Any], modules: ModuleSource,
         runtime: Runtime, index: int | None) -> list[Any]:
    loaded = modules(job["code_id"], index)
    load = box["load"] = prices.load_gas(loaded.size)  # charged first, whether cached or not
    if load > job["gas_limit"]:
        raise wasm.GasExhausted()
    compiled = loaded.runnable()  # LinkError: the module cannot run here
    runtime.host.begin(call)
    instance = wasm.instantiate(compiled, imports=runtime.imports, gas_limit=job["gas_limit"] - load,
                                canonical_nans=compiled.canonical_nans)
    box["instance"] = instance
    if job.get("optional") and job["function"] not in instance.exports:
        return []  # instantiate or migrate of a code without that export: an ok call that does nothing
    function = _export(instance, job["function"])
    return _results(function(*_arguments(function.type, job.get("args", []))))


def execute_chunk(chunk: ChunkState, jobs: list[dict[str, Any]], well_formed: int, problem: str,
                  run: Callable[[dict[str, Any], StateReader, int], m.CallResult],
                  limits: p.ProtocolLimits = p.DEFAULT_LIMITS) -> m.ChunkFinal:
    """Run a block chunk's calls one after another; the result lists each call's result.

    Each call sees the writes of the chain's earlier ok calls
    (:class:`~wasmpool.worker.readers.ChunkState`); each result says where
    every read came from. A result that says nothing about the call (a time
    limit, an aborted read) ends the chunk: the broker re-issues the calls
    after it. Only the first ``well_formed`` entries run; ``problem`` (what
    is wrong with the next) becomes an internal error, which ends the chunk.
    ``run`` runs one call with its reader at its position (:func:`execute`).

    The FINAL must fit under ``limits``: a call's result too large on its
    own (with its reads) becomes RESULT_TOO_LARGE; a result that fits alone
    but not beside the earlier ones ends the chunk before that call, which
    the broker re-issues (not a loss) in a chunk of its own.
    """
    results: list[dict[str, Any]] = []
    room, used = m.result_room(limits), m.Footprint()
    for position, job in enumerate(jobs[:well_formed]):
        reader = chunk.reader(position, namespace(job))
        result = m.fitting(run(job, reader, position), room, reader.reads)
        used = used.plus(m.footprint(result, reader.reads))
        if results and not m.fits(used, room):
            return m.ChunkFinal(results)
        results.append(m.ChunkCallResult.of(result, reader.reads).to_body())
        if result.code in p.NONDETERMINISTIC:
            break
        if result.status == Status.OK:
            chunk.wrote(position, namespace(job), result.writes, result.nested_writes)
    else:
        if well_formed < len(jobs):
            bad = failure(errors.InternalError(problem), CallState(chunk.reader(well_formed, "")), None, 0)
            results.append(m.ChunkCallResult.of(bad, []).to_body())
    return m.ChunkFinal(results)


def _export(instance: Any, name: str) -> Any:
    function = instance.exports.get(name)
    if function is None or not isinstance(getattr(function, "type", None), wasm.FuncType):
        raise errors.BadCall(f"the contract exports no function {name!r}")
    return function


def _arguments(signature: wasm.FuncType, args: list[Any]) -> list[int | float]:
    """Numbers from the wire, checked against and converted to the export's parameter types."""
    if len(args) != len(signature.params):
        raise errors.BadCall(f"the function takes {len(signature.params)} argument(s) {signature}, "
                             f"got {len(args)}")
    return [_argument(t, a, i) for i, (t, a) in enumerate(zip(signature.params, args, strict=True))]


def _argument(valtype: ValType, value: Any, index: int) -> int | float:
    mask = MASKS.get(valtype)
    if mask is not None:
        if type(value) is not int or not -(mask >> 1) - 1 <= value <= mask:
            raise errors.BadCall(f"argument {index} must be an {valtype} integer, got {value!r}")
        bits: int = value & mask
        return bits - mask - 1 if bits > mask >> 1 else bits
    if valtype in (ValType.F32, ValType.F64):
        return float(value)
    raise errors.BadCall(f"argument {index} has type {valtype}, which cannot be passed from outside")


def _results(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def _success(results: list[Any], call: CallState, instance: Any, load: int,
             versions: dict[str, int | str]) -> m.CallResult:
    if not all(type(r) in (int, float) for r in results):
        return failure(errors.BadCall("the function returns references, which cannot leave the pool"),
                       call, instance, 0, load, versions)
    gas_used = load + getattr(instance, "gas_used", 0)
    events = [[event[0], [[key, value] for key, value in event[1]], *event[2:]] for event in call.events]
    return m.CallResult(Status.OK, ErrorCode.OK, results, call.output, gas_used, call.logs, call.writes, None,
                        versions, events, call.tx.nested_writes())


def failure(exc: BaseException, call: CallState, instance: Any, gas_limit: int, load: int = 0,
            versions: dict[str, int | str] | None = None) -> m.CallResult:
    """The result of a call that failed with ``exc`` (its status and code from the error table), no writes.

    Its events go with its writes (an event says something happened, which
    did not); its logs stay, as diagnostics of the failure.

    ``load`` is the module's load price the call paid before its instance
    (``instance``, None if it never got one) charged anything.
    """
    code = codes.error_code(exc)
    gas = gas_limit if code is ErrorCode.OUT_OF_GAS else load + getattr(instance, "gas_used", 0)
    return m.CallResult.failed(code, codes.error_message(exc), min(gas, gas_limit) if gas_limit else gas,
                               call.logs, versions)
