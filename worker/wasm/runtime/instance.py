"""Instantiation: linking imports, allocating, initializing, running ``start``.

Theory of operation
-------------------
:func:`instantiate` follows the spec's order (WebAssembly 2.0, 4.5.4), after
two checks that come before any work: the tables and memories the module
defines must fit the :class:`RuntimeLimits` each and together
(``instance_bytes``, see ``runtime.budget``), else LinkError; and a metered
instance pays for its instantiation first (``runtime.setup_gas``), else
GasExhausted.

1. *Resolve imports* by (module, name) from a dict of dicts. Functions may be
   :class:`~.functions.Function` objects (exports of other instances, whose
   type must match exactly), :func:`~.functions.host` functions or plain
   callables (typed by the import); tables, memories and globals must be the
   runtime objects, matched by the spec's rules (limits subtyping against the
   object's current size and declared maximum, same element type, same value
   type and mutability). Any mismatch is a :class:`LinkError`.
2. *Compile* (unless given a :class:`~..compiler.CompiledModule` made by
   ``wasm.compile``, see ``runtime.compiled``, which must be the metered
   variant exactly when there is a gas limit; a plain ``Module`` is compiled
   for this one instance; modules with more than ``EAGER_CODE_BYTES`` of code
   compile each function on its first call, through a stub) and *allocate*: functions (each function's code
   object is executed in the instance's namespace, defining ``f{i}``),
   globals (initializers may read
   imported globals and take function references), tables and memories
   (counted against the instance's :class:`~.budget.Budget`).
3. *Exports* are the same objects.
4. *Element segments*, in order: active ones are copied into their table
   (out of bounds: a trap, earlier segments stay written), then dropped;
   declarative ones are dropped. Then *data segments* the same way.
5. The *start* function runs.

The namespace holds, besides ``helpers.BASE_NAMESPACE``: ``f{i}`` (every
function's raw callable, imported ones included), ``r{i}`` (the Function
objects, for ``ref.func``), ``M``/``MEM`` (memory 0's bytearray and object),
``t{i}``/``T{i}`` (table element lists and objects), ``gv{i}`` (values of
immutable globals), ``gb{i}`` (mutable Global objects), ``E``/``D`` (element
and data segments, emptied when dropped) and ``G`` (the gas meter). Metered
functions are closures over the meter's cell (``GAS``, see ``runtime.gas``):
each is built from its code object with the instance's namespace as globals
and that cell as its closure.

Those references make an instance a web of cycles (the namespace holds
functions whose globals are the namespace), which only the cycle collector
would free: :meth:`Instance.release` breaks them, and a failed
instantiation whose functions cannot have escaped is released at once.
Host functions find the caller's memory through ``Instance.memory``, fixed
when the exports are bound (no scan of the exports per host call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any

from ..compiler import CompiledModule
from ..errors import GasExhausted, LinkError
from ..module import Elem, Expr, Import, Module, SegmentMode
from ..numeric_float import f32_from_bits, f64_from_bits
from ..numeric_int import MASK32, MASK64
from ..opcodes import Opcode
from ..recursion import RUN_MARGIN, check_recursion
from ..types import ExternKind, FuncType, GlobalType, Limits, MemType, TableType, ValType
from .budget import Budget, memory_bytes, table_bytes
from .compiled import check_limits, check_variant, compile_small
from .functions import Caller, Function, HostFunc, RawFn, host_raw
from .gas import GasMeter
from .globals import Global
from .helpers import BASE_NAMESPACE, memory_init, table_init
from .limits import DEFAULT_RUNTIME_LIMITS, RuntimeLimits
from .memory import Memory
from .setup_gas import instantiation_charge
from .table import Table

Export = Function | Table | Memory | Global


class Instance:
    """A module instance: its exports, gas and memory."""

    __slots__ = ("budget", "exports", "funcs", "globals", "host_memory", "limits", "memories", "meter",
                 "module", "ns", "tables")

    def __init__(self, module: Module, limits: RuntimeLimits, gas_limit: int | None) -> None:
        self.module = module
        self.limits = limits
        self.budget = Budget(limits.instance_bytes)
        self.host_memory: Memory | None = None  # what ``memory`` returns, found once at export time
        self.ns: dict[str, Any] = dict(BASE_NAMESPACE)
        self.meter = GasMeter(gas_limit)
        self.ns["G"] = self.meter
        self.funcs: list[Function] = []
        self.tables: list[Table] = []
        self.memories: list[Memory] = []
        self.globals: list[Global] = []
        self.exports: dict[str, Export] = {}

    @property
    def gas_used(self) -> int:
        """Gas charged so far (0 when unmetered)."""
        return self.meter.used

    @property
    def gas_limit(self) -> int | None:
        return self.meter.limit

    @property
    def memory(self) -> Memory | None:
        """The exported memory if there is one, else memory 0, else None (host functions' view; O(1))."""
        return self.host_memory

    def release(self) -> None:
        """Let go of everything the instance holds, so that reference counting frees it at once.

        An instance is full of reference cycles (its namespace holds functions
        whose globals are that namespace; its functions point back at it), so
        without this only the cycle collector frees a dead instance, and its
        memories with it. Afterwards the instance's own functions raise
        :class:`LinkError` when called; objects it exported stay usable only as
        far as they do not need it. Idempotent; ``with instance:`` calls it on
        exit. Release only an instance nothing else links to.
        """
        for function in self.funcs:
            if function.instance is self:
                function.fn = _released
                function.instance = None
        self.ns.clear()
        self.funcs.clear()
        self.tables.clear()
        self.memories.clear()
        self.globals.clear()
        self.exports.clear()
        self.host_memory = None

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Instance exports={sorted(self.exports)}>"


def _released(d: int, *args: Any) -> Any:
    """What a released instance's functions become."""
    raise LinkError("the function's instance was released")


# ---------------------------------------------------------------- import matching


def _limits_match(actual: Limits, declared: Limits) -> bool:
    """Spec import subtyping: at least the declared minimum, a maximum within the declared one."""
    if actual.min < declared.min:
        return False
    if declared.max is None:
        return True
    return actual.max is not None and actual.max <= declared.max


def _lookup(imports: Mapping[str, Mapping[str, Any]], imp: Import) -> Any:
    namespace = imports.get(imp.module)
    if namespace is None:
        raise LinkError(f"unknown import module {imp.module!r} (needed for {imp.name!r})")
    try:
        return namespace[imp.name]
    except (KeyError, TypeError):
        raise LinkError(f"unknown import {imp.module!r}.{imp.name!r}") from None


def _import_name(imp: Import) -> str:
    return f"{imp.module!r}.{imp.name!r}"


def _link_func(inst: Instance, imp: Import, value: Any, ftype: FuncType, caller: Caller,
               sig: int) -> Function:
    limits = inst.limits
    if isinstance(value, Function):
        if value.type != ftype:
            raise LinkError(f"import {_import_name(imp)}: function type {value.type} does not match {ftype}")
        return value
    if isinstance(value, HostFunc):
        fn = host_raw(value.fn, ftype, caller if value.caller else None, sig)
    elif callable(value) and not isinstance(value, Table | Memory | Global):
        fn = host_raw(value, ftype, None, sig)
    else:
        raise LinkError(f"import {_import_name(imp)}: expected a function, got {type(value).__name__}")
    return Function(ftype, fn, limits.stack_units, limits.host_reentry, inst, sig)


def _link_table(imp: Import, value: Any, declared: TableType) -> Table:
    if not isinstance(value, Table):
        raise LinkError(f"import {_import_name(imp)}: expected a table, got {type(value).__name__}")
    if value.elem != declared.elem or not _limits_match(value.type.limits, declared.limits):
        raise LinkError(f"import {_import_name(imp)}: table {value.type.elem} {value.type.limits} "
                        f"does not match {declared.elem} {declared.limits}")
    return value


def _link_memory(imp: Import, value: Any, declared: MemType) -> Memory:
    if not isinstance(value, Memory):
        raise LinkError(f"import {_import_name(imp)}: expected a memory, got {type(value).__name__}")
    if not _limits_match(value.type.limits, declared.limits):
        raise LinkError(f"import {_import_name(imp)}: memory {value.type.limits} does not match "
                        f"{declared.limits}")
    return value


def _link_global(imp: Import, value: Any, declared: GlobalType) -> Global:
    if not isinstance(value, Global):
        raise LinkError(f"import {_import_name(imp)}: expected a global, got {type(value).__name__}")
    if value.type != declared:
        mut = "mutable" if declared.mutable else "immutable"
        raise LinkError(f"import {_import_name(imp)}: global {value.type.valtype} does not match "
                        f"{mut} {declared.valtype}")
    return value


def _resolve_imports(inst: Instance, imports: Mapping[str, Mapping[str, Any]], caller: Caller,
                     signatures: list[int]) -> None:
    module = inst.module
    for imp in module.imports:
        value = _lookup(imports, imp)
        if imp.kind == ExternKind.FUNC:
            assert isinstance(imp.desc, int)
            inst.funcs.append(_link_func(inst, imp, value, module.types[imp.desc], caller,
                                         signatures[imp.desc]))
        elif imp.kind == ExternKind.TABLE:
            assert isinstance(imp.desc, TableType)
            inst.tables.append(_link_table(imp, value, imp.desc))
        elif imp.kind == ExternKind.MEMORY:
            assert isinstance(imp.desc, MemType)
            inst.memories.append(_link_memory(imp, value, imp.desc))
        else:
            assert isinstance(imp.desc, GlobalType)
            inst.globals.append(_link_global(imp, value, imp.desc))


# ---------------------------------------------------------------- allocation


_CONST_RULES: dict[Opcode, Callable[[Instance, Any], Any]] = {
    Opcode.I32_CONST: lambda inst, v: v & MASK32,
    Opcode.I64_CONST: lambda inst, v: v & MASK64,
    Opcode.F32_CONST: lambda inst, bits: f32_from_bits(bits),
    Opcode.F64_CONST: lambda inst, bits: f64_from_bits(bits),
    Opcode.GLOBAL_GET: lambda inst, index: inst.globals[index].v,
    Opcode.REF_NULL: lambda inst, _: None,
    Opcode.REF_FUNC: lambda inst, index: inst.funcs[index],
}
"""Each instruction a constant expression may hold: its value from (instance, immediate)."""

_END, _REF_FUNC = Opcode.END, Opcode.REF_FUNC  # locals of the hot loops (enum attributes are slow)


def eval_const(inst: Instance, expr: Expr) -> Any:
    """The value of a constant expression (runtime representation)."""
    value: Any = None
    for op, imm, _ in expr:
        if op is _END:
            break
        rule = _CONST_RULES.get(op)
        if rule is None:
            raise LinkError(f"unsupported instruction in a constant expression: {op.name}")
        value = rule(inst, imm)
    return value


def _define_functions(inst: Instance, compiled: CompiledModule) -> None:
    """Bind every function's raw callable as ``f{i}``: compiled ones directly, the rest as stubs."""
    module, ns, limits = inst.module, inst.ns, inst.limits
    raw_names, ref_names = compiled.names()
    for index, func in enumerate(inst.funcs):
        ns[raw_names[index]] = func.fn
    first = len(inst.funcs)
    for defined, code in enumerate(module.funcs):
        index = first + defined
        ready = compiled.codes.get(index)
        fn = _install(inst, compiled, index) if ready is not None else _stub(inst, compiled, index)
        ns[raw_names[index]] = fn
        inst.funcs.append(Function(module.types[code.type_index], fn, limits.stack_units,
                                   limits.host_reentry, inst, compiled.signatures[code.type_index]))
    for index, function in enumerate(inst.funcs):
        ns[ref_names[index]] = function


def _install(inst: Instance, compiled: CompiledModule, index: int) -> RawFn:
    """Compile function ``index`` if needed and define it in the namespace (``f{index}``)."""
    code, constants = compiled.code(index)
    inst.ns.update(constants)
    closure = (inst.meter.cell,) if code.co_freevars else None  # metered code: a closure over GAS
    fn: RawFn = FunctionType(code, inst.ns, code.co_name, None, closure)
    inst.ns[code.co_name] = fn
    if index < len(inst.funcs):
        inst.funcs[index].fn = fn
    return fn


def _stub(inst: Instance, compiled: CompiledModule, index: int) -> RawFn:
    """A stand-in that compiles function ``index`` on its first call, then steps aside."""
    real: list[RawFn] = []

    def first_call(d: int, *args: Any) -> Any:
        if not real:  # other instances may keep calling the stub they linked to: compile once
            real.append(_install(inst, compiled, index))
        return real[0](d, *args)
    return first_call


def check_sizes(module: Module, limits: RuntimeLimits) -> None:
    """LinkError unless the tables and memories ``module`` defines fit ``limits``, each and together.

    Runs before anything is allocated. Imported tables and memories are not
    counted: their creator's budget bounds them (see ``runtime.budget``).
    """
    for table_type in module.tables:
        if table_type.limits.min > limits.table_elements:
            raise LinkError(f"table of {table_type.limits.min} elements exceeds the runtime limit "
                            f"{limits.table_elements}")
    for mem_type in module.mems:
        if mem_type.limits.min > limits.memory_pages:
            raise LinkError(f"memory of {mem_type.limits.min} pages exceeds the runtime limit "
                            f"{limits.memory_pages}")
    elements = sum(table_type.limits.min for table_type in module.tables)
    pages = sum(mem_type.limits.min for mem_type in module.mems)
    needed = table_bytes(elements) + memory_bytes(pages)
    if needed > limits.instance_bytes:
        raise LinkError(f"{len(module.tables)} tables of {elements} elements and {len(module.mems)} memories "
                        f"of {pages} pages need {needed} bytes, over the runtime limit instance_bytes="
                        f"{limits.instance_bytes}")


def _allocate(inst: Instance) -> None:
    module, ns, limits = inst.module, inst.ns, inst.limits
    for definition in module.globals:
        inst.globals.append(Global.of_runtime(definition.type, eval_const(inst, definition.init)))
    for table_type in module.tables:
        lim = table_type.limits
        inst.tables.append(Table(lim.min, lim.max, table_type.elem, limit_elements=limits.table_elements,
                                 budget=inst.budget))
    for mem_type in module.mems:
        lim = mem_type.limits
        inst.memories.append(Memory(lim.min, lim.max, limit_pages=limits.memory_pages, budget=inst.budget))
    for index, glob in enumerate(inst.globals):
        if glob.type.mutable:
            ns[f"gb{index}"] = glob
        else:
            ns[f"gv{index}"] = glob.v
    for index, table in enumerate(inst.tables):
        ns[f"t{index}"] = table.elems
        ns[f"T{index}"] = table
    if inst.memories:
        ns["MEM"] = inst.memories[0]
        ns["M"] = inst.memories[0].data


_EXPORT_SPACES = {
    ExternKind.FUNC: "funcs",
    ExternKind.TABLE: "tables",
    ExternKind.MEMORY: "memories",
    ExternKind.GLOBAL: "globals",
}


def _exports(inst: Instance) -> None:
    spaces: dict[int, list[Any]] = {int(kind): getattr(inst, name) for kind, name in _EXPORT_SPACES.items()}
    exports = inst.exports
    for export in inst.module.exports:
        exports[export.name] = spaces[export.kind][export.index]
    memory_kind = ExternKind.MEMORY  # host functions' memory: the first exported one, else memory 0
    exported = (inst.memories[e.index] for e in inst.module.exports if e.kind == memory_kind)
    inst.host_memory = next(exported, inst.memories[0] if inst.memories else None)


# ---------------------------------------------------------------- initialization


def _elem_values(inst: Instance, elem: Elem) -> list[Any]:
    """The segment's references; ``ref.func`` items (nearly all of them) without a general evaluation."""
    funcs = inst.funcs
    return [funcs[expr[0].imm] if expr[0].op is _REF_FUNC and len(expr) == 2 else eval_const(inst, expr)
            for expr in elem.init]


def _initialize(inst: Instance) -> None:
    module, ns = inst.module, inst.ns
    segments: list[Any] = [_elem_values(inst, elem) for elem in module.elems]
    ns["E"] = segments
    ns["D"] = [data.init for data in module.datas]
    for index, elem in enumerate(module.elems):
        if elem.mode is SegmentMode.ACTIVE:
            assert elem.offset is not None
            offset = eval_const(inst, elem.offset)
            table_init(inst.tables[elem.table].elems, segments, index, offset, 0, len(segments[index]))
        if elem.mode is not SegmentMode.PASSIVE:
            segments[index] = ()
    datas: list[bytes] = ns["D"]
    for index, data in enumerate(module.datas):
        if data.mode is SegmentMode.ACTIVE:
            assert data.offset is not None
            offset = eval_const(inst, data.offset)
            memory_init(inst.memories[data.memory].data, datas, index, offset, 0, len(datas[index]))
            datas[index] = b""


def instantiate(source: Module | CompiledModule, imports: Mapping[str, Mapping[str, Any]] | None = None, *,
                gas_limit: int | None = None, limits: RuntimeLimits | None = None,
                canonical_nans: bool = False) -> Instance:
    """Link, allocate and initialize a module; run its start function. See the module docstring.

    ``source``: a module compiled by ``wasm.compile`` (metered iff
    ``gas_limit`` is given, and with the same ``canonical_nans``, else
    ValueError), or a plain ``Module``, compiled for this one instance.
    ``canonical_nans``: every NaN made by float arithmetic is the positive
    canonical one (see ``wasm.compile``).
    """
    limits = limits or DEFAULT_RUNTIME_LIMITS
    if gas_limit is not None and gas_limit < 0:
        raise ValueError("gas_limit cannot be negative")
    if isinstance(source, CompiledModule):
        check_variant(source, metered=gas_limit is not None, canonical_nans=canonical_nans)
        module, compiled = source.module, source
    else:
        module, compiled = source, None
    inst = Instance(module, limits, gas_limit)
    try:
        _build(inst, imports or {}, compiled, canonical_nans)
    except BaseException:
        if _confined(module):  # nothing of it can be reachable: free it at once (it holds cycles)
            inst.release()
        raise
    return inst


def _charge_instantiation(inst: Instance, compiled: CompiledModule | None) -> None:
    """Charge the instantiation's price to the instance's own meter (see ``runtime.setup_gas``).

    The price depends on the module alone: a compiled module keeps it, so
    its instances do not count the module's entries again.
    """
    meter = inst.meter
    if meter.limit is None:
        return
    if compiled is None:
        price = instantiation_charge(inst.module)
    elif compiled.setup_price is not None:
        price = compiled.setup_price
    else:
        price = compiled.setup_price = instantiation_charge(compiled.module)
    meter.g -= price
    if meter.g < 0:
        raise GasExhausted(f"instantiation costs {price} gas, over the limit of {meter.limit}")


def _confined(module: Module) -> bool:
    """Whether none of an instance's functions can be reachable from outside if instantiation fails.

    They escape only through imports: a table or a global they are written
    into, or a function taking a reference. (A failed instance's writes stay.)
    """
    for imp in module.imports:
        if imp.kind in (ExternKind.TABLE, ExternKind.GLOBAL):
            return False
        takes_refs = imp.kind == ExternKind.FUNC and isinstance(imp.desc, int) and any(
            t.is_ref for t in module.types[imp.desc].params)
        if takes_refs:
            return False
    return True


def _build(inst: Instance, imports: Mapping[str, Mapping[str, Any]], compiled: CompiledModule | None,
           canonical_nans: bool = False) -> None:
    module, limits = inst.module, inst.limits
    check_sizes(module, limits)  # before anything is allocated
    _charge_instantiation(inst, compiled)  # before any work is done
    if compiled is None:  # this instance's own compilation
        compiled = CompiledModule(module, inst.meter.limit is not None, limits.max_registers, canonical_nans)
    else:
        check_limits(compiled, limits)
    _resolve_imports(inst, imports, Caller(inst), compiled.signatures)
    compile_small(compiled)  # small modules: every compile error surfaces here (a no-op once compiled)
    check_recursion(limits.call_depth + RUN_MARGIN, f"running calls {limits.call_depth} deep")
    _define_functions(inst, compiled)
    _allocate(inst)
    _exports(inst)
    _initialize(inst)
    if module.start is not None:
        inst.funcs[module.start].invoke(())


__all__ = ["Instance", "RuntimeLimits", "ValType", "eval_const", "instantiate"]
