"""Instantiation: linking imports, allocating, initializing, running ``start``.

Theory of operation
-------------------
:func:`instantiate` follows the spec's order (WebAssembly 2.0, 4.5.4), after
two checks that come before any work: the tables and memories the module
defines must fit the :class:`RuntimeLimits` each and together
(``instance_bytes``, see ``runtime.budget``), else LinkError; and a metered
instance pays for its instantiation first (``runtime.setup_gas``), else
GasExhausted.

What depends on the module alone is worked out once per compiled module
(``runtime.prepared``: import plans, the namespace template, function
plans, initial global values, the memory and table images, the export
map, the size checks per runtime limits); each instance copies or binds it.
For the common shape of a contract (all functions compiled, imports that
are host functions taking the caller, constant segments and globals) the
steps below are written out once per module as one straight-line function
(``runtime.maker``), which makes the same instance without the general
path's loops, and takes over the namespace and compiled functions of a
released instance (its *shell*) when there is one; the general path
handles everything else, and any instance whose host functions are not
the ones the maker was written for.

1. *Resolve imports* by (module, name) from a dict of dicts. Functions may be
   :class:`~.functions.Function` objects (exports of other instances, whose
   type must match exactly), :func:`~.functions.host` functions or plain
   callables (typed by the import); tables, memories and globals must be the
   runtime objects, matched by the spec's rules (limits subtyping against the
   object's current size and declared maximum, same element type, same value
   type and mutability). Any mismatch is a :class:`LinkError`. A function
   value is checked once per import and value, then reused.
2. *Compile* (unless given a :class:`~..compiler.CompiledModule` made by
   ``wasm.compile``, see ``runtime.compiled``, which must be the metered
   variant exactly when there is a gas limit; a plain ``Module`` is compiled
   for this one instance; modules with more than ``EAGER_CODE_BYTES`` of code
   compile each function on its first call, through a stub) and *allocate*:
   functions (one Python function per wasm function over its shared code
   object, with the instance's namespace as globals), globals (initializers
   may read imported globals and take function references), tables and
   memories (counted against the instance's :class:`~.budget.Budget`).
3. *Exports* are the same objects.
4. *Element segments*, in order: active ones are copied into their table
   (out of bounds: a trap, earlier segments stay written), then dropped;
   declarative ones are dropped. Then *data segments* the same way. When the
   module alone decides their effect (constant offsets within the module's
   own tables and memories), the prepared image is written as each table and
   memory is made instead: the outcome is the same.
5. The *start* function runs.

The namespace holds, besides ``helpers.BASE_NAMESPACE`` and the float
constants of the code: ``f{i}`` (every function's raw callable, imported
ones included), ``r{i}`` (the Function objects of the functions that can
escape the module, for ``ref.func``), ``M``/``MEM`` (memory 0's bytearray and
object), ``t{i}``/``T{i}`` (table element lists and objects), ``gv{i}``
(values of immutable globals), ``gb{i}`` (mutable Global objects), ``E``/``D``
(element and data segments, emptied when dropped) and ``G`` (the gas meter).
Only escaping functions (exported, the start function, named by an element
segment or a global initializer) get a :class:`~.functions.Function`
object: the others are reached by ``call`` alone, and ``Instance.funcs``
holds None for them. Metered functions are closures over the meter's cell
(``GAS``, see ``runtime.gas``): each is built from its code object with the
instance's namespace as globals and that cell as its closure.

Those references make an instance a web of cycles (the namespace holds
functions whose globals are the namespace), which only the cycle collector
would free: :meth:`Instance.release` breaks them, and a failed
instantiation whose functions cannot have escaped is released at once.
Host functions find the caller's memory through ``Instance.memory``, fixed
when the exports are bound (no scan of the exports per host call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import repeat
from operator import is_
from sys import getrecursionlimit
from types import FunctionType, MethodType
from typing import Any

from ..compiler import CompiledModule
from ..compiler.f32cell import CELL
from ..errors import GasExhausted, LinkError
from ..module import Elem, Expr, Import, Module, SegmentMode
from ..numeric_float import f32_cell, f32_from_bits, f64_from_bits
from ..numeric_int import MASK32, MASK64
from ..opcodes import Opcode
from ..recursion import check_recursion
from ..types import ExternKind, GlobalType, Limits, MemType, TableType, ValType
from .budget import Budget, memory_bytes, table_bytes
from .compiled import check_limits, check_variant, compile_small
from .functions import Caller, Function, RawFn
from .gas import GasMeter
from .globals import Global
from .helpers import memory_init, table_init
from .limits import DEFAULT_RUNTIME_LIMITS, RuntimeLimits
from .maker import Shell, linked, maker_for
from .memory import Memory
from .prepared import DYNAMIC, NULL, HostLink, Prepared, Sized, confined, new_table, prepared
from .setup_gas import instantiation_charge
from .table import Table

Export = Function | Table | Memory | Global


class Instance:
    """A module instance: its exports, gas and memory."""

    __slots__ = ("budget", "exports", "funcs", "globals", "host_memory", "limits", "memories", "meter",
                 "module", "ns", "shell", "tables")

    def __init__(self, module: Module, limits: RuntimeLimits, gas_limit: int | None) -> None:
        self.module = module
        self.limits = limits
        self.budget = Budget(limits.instance_bytes)
        self.host_memory: Memory | None = None  # what ``memory`` returns, found once at export time
        self.ns: dict[str, Any] = {}  # the import bindings, then the whole namespace (see _build)
        self.meter = GasMeter(gas_limit)
        self.funcs: list[Function | None] = []  # None: a function only ``call`` reaches (no object)
        self.tables: list[Table] = []
        self.memories: list[Memory] = []
        self.globals: list[Global] = []
        self.exports: dict[str, Export] = {}
        self.shell: Shell | None = None  # what its maker made that the next instance may take over

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
        exit. Release only an instance nothing else links to and none of
        whose calls is running (a host function must not release its
        caller's instance: its shell may go to the next instance). An instance
        its maker made hands its shell back (``runtime.maker``), whose
        :class:`~.functions.Caller` the next instance takes over: a host
        function must not keep its caller past its call.
        """
        for function in self.funcs:
            if function is not None and function.instance is self:
                function.fn = _released
                function.instance = None
        shell = self.shell
        if shell is None:
            self.ns.clear()
        else:  # its namespace goes back to the maker (runtime.maker), without what was this instance's
            self.shell = None
            self.ns = {}
            shell.park(self.meter)
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


def _resolve_imports(inst: Instance, prep: Prepared, sized: Sized,
                     imports: Mapping[str, Mapping[str, Any]]) -> None:
    """Link every import; function imports put their raw callable (and Function) into ``inst.ns``.

    When every import is a host function taking the caller, the values are
    recorded for :func:`_link_hosts`, which links the next instance given
    the same objects in one pass.
    """
    link = prep.host_link
    ns, funcs = inst.ns, inst.funcs
    caller: Caller | None = None
    source: Any = None
    source_name = None
    values: list[Any] = []  # the function values and their caller-taking entries, for the next instance
    entries: list[RawFn] = []
    for plan, module_name, field, is_func, name, ref, escaped in prep.import_rows:
        if module_name != source_name:  # consecutive imports from one module: one lookup
            source_name, source = module_name, imports.get(module_name)
        try:
            value = source[field]
        except (KeyError, TypeError):
            value = _lookup(imports, plan.imp)  # raises the LinkError saying what is missing
        if not is_func:
            _link_other(inst, plan.imp, value)
            continue
        seen = plan.seen
        function, entry, shared = seen[1] if seen is not None and seen[0] is value else plan.bind(value)
        if function is not None:
            raw = function.fn
            linked(function.instance)  # its raw callable is bound here: its instance's shell stays its own
        else:
            if entry is not None:
                if caller is None:
                    caller = Caller(inst)
                raw = MethodType(entry, caller)
                values.append(value)
                entries.append(entry)
            else:
                assert shared is not None
                raw = shared
            if escaped:
                assert plan.ftype is not None
                function = Function(plan.ftype, raw, sized.stack_units, sized.reentry, inst, plan.sig)
        if function is not None:
            ns[ref] = function
        ns[name] = raw
        funcs.append(function)
    if link is not None and len(entries) == len(link.names):  # every import a host function with a caller
        link.seen = (tuple(values), tuple(entries))


def _link_hosts(inst: Instance, link: HostLink, seen: tuple[tuple[Any, ...], tuple[RawFn, ...]],
                imports: Mapping[str, Mapping[str, Any]]) -> bool:
    """Link the host functions in one pass if they are the objects the last instance linked (else False).

    A missing name is left to the general path, which says what is missing.
    """
    values: tuple[Any, ...] = ()
    try:
        for module_name, getter in link.groups:
            values += getter(imports[module_name])
    except (KeyError, TypeError):
        return False
    known, entries = seen
    if len(values) != len(known) or not all(map(is_, values, known)):
        return False
    inst.ns.update(zip(link.names, map(MethodType, entries, repeat(Caller(inst))), strict=True))
    inst.funcs += link.nones
    return True


def _link_other(inst: Instance, imp: Import, value: Any) -> None:
    """Link a table, memory or global import."""
    if imp.kind == ExternKind.TABLE:
        assert isinstance(imp.desc, TableType)
        inst.tables.append(_link_table(imp, value, imp.desc))
    elif imp.kind == ExternKind.MEMORY:
        assert isinstance(imp.desc, MemType)
        inst.memories.append(_link_memory(imp, value, imp.desc))
    else:
        assert isinstance(imp.desc, GlobalType)
        inst.globals.append(_link_global(imp, value, imp.desc))


_FUNC = ExternKind.FUNC


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


def _define_functions(inst: Instance, prep: Prepared, sized: Sized, compiled: CompiledModule) -> None:
    """Bind every defined function as ``f{i}`` (and ``r{i}`` when it escapes): compiled ones, else stubs."""
    ns, funcs, codes = inst.ns, inst.funcs, compiled.codes
    cell = (inst.meter.cell,)
    units, reentry = sized.stack_units, sized.reentry
    batch = prep.batch
    if batch is not None:  # all compiled: one pass over the code objects, then the escaping few
        made = list(map(FunctionType, batch.codes, repeat(ns), batch.names, repeat(None),
                        repeat(cell if batch.closes else None)))
        ns.update(zip(batch.names, made, strict=True))
        defined: list[Function | None] = [None] * len(made)
        for position, ftype, sig, ref in batch.escaped:
            defined[position] = ns[ref] = Function(ftype, made[position], units, reentry, inst, sig)
        funcs += defined
        return
    for index, name, code, closes, escaped, ftype, sig, ref in prep.functions:
        if code is not None:
            fn: RawFn = FunctionType(code, ns, name, None, cell if closes else None)
        elif index in codes:  # compiled since the template was made (a lazily compiled module)
            fn = _install(inst, compiled, index)
        else:
            fn = _stub(inst, compiled, index)
        ns[name] = fn
        if escaped:
            function = Function(ftype, fn, units, reentry, inst, sig)
            ns[ref] = function
            funcs.append(function)
        else:
            funcs.append(None)


def _install(inst: Instance, compiled: CompiledModule, index: int) -> RawFn:
    """Compile function ``index`` if needed and define it in the namespace (``f{index}``)."""
    code, constants = compiled.code(index)
    inst.ns.update(constants)
    closure = (inst.meter.cell,) if code.co_freevars else None  # metered code: a closure over GAS
    fn: RawFn = FunctionType(code, inst.ns, code.co_name, None, closure)
    inst.ns[code.co_name] = fn
    if index < len(inst.funcs):
        function = inst.funcs[index]
        if function is not None:
            function.fn = fn
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


def _allocate(inst: Instance, prep: Prepared, sized: Sized) -> None:
    """Globals, then the module's own tables and memories (with their prepared image, if any)."""
    ns, globals_ = inst.ns, inst.globals
    for index, name in prep.imported_global_names:
        glob = globals_[index]
        ns[name] = glob if glob.type.mutable else glob.v
    for gtype, init, value, slot in prep.global_rows:
        if value is DYNAMIC:
            glob = Global.of_runtime(gtype, eval_const(inst, init))
        elif gtype.mutable:
            glob = Global.of_runtime(gtype, value)
        else:  # immutable and constant: one object for all instances, its value already in the template
            glob = value
        globals_.append(glob)
        if slot is not None:
            ns[slot] = glob if gtype.mutable else glob.v
    budget = inst.budget
    budget.used += prep.initial_bytes  # checked against the limits before anything was done
    if prep.table_names:  # any table, imported or defined
        _tables(inst, prep, sized)
    memories = inst.memories
    for (size, maximum, writes), cap in zip(prep.memory_rows, sized.memory_caps, strict=True):
        data = bytearray(size)
        for start, end, chunk in writes:  # the image (a zeroed bytearray is cheaper than a copied one)
            data[start:end] = chunk
        memories.append(Memory.checked(data, maximum, cap, budget))
    if memories:
        ns["MEM"] = first = memories[0]
        ns["M"] = first.data


def _tables(inst: Instance, prep: Prepared, sized: Sized) -> None:
    """The module's own tables, with their prepared elements if there is an image; all tables' names."""
    image, funcs, tables = prep.image, inst.funcs, inst.tables
    for defined, table_type in enumerate(prep.module.tables):
        writes = image.table_writes[defined] if image is not None else []
        tables.append(new_table(table_type, sized.table_caps[defined], inst.budget, writes, funcs))
    ns = inst.ns
    for (elems_name, table_name), table in zip(prep.table_names, tables, strict=True):
        ns[elems_name] = table.elems
        ns[table_name] = table


def _exports(inst: Instance, prep: Prepared) -> None:
    spaces: tuple[list[Any], ...] = (inst.funcs, inst.tables, inst.memories, inst.globals)  # ExternKind order
    exports = inst.exports
    for name, kind, index in prep.exports:
        exports[name] = spaces[kind][index]
    if prep.host_memory is not None:  # host functions' memory: the first exported one, else memory 0
        inst.host_memory = inst.memories[prep.host_memory]


# ---------------------------------------------------------------- initialization


def _elem_values(inst: Instance, elem: Elem) -> list[Any]:
    """The segment's references; ``ref.func`` items (nearly all of them) without a general evaluation."""
    funcs = inst.funcs
    return [funcs[expr[0].imm] if expr[0].op is _REF_FUNC and len(expr) == 2 else eval_const(inst, expr)
            for expr in elem.init]


def _initialize(inst: Instance, prep: Prepared) -> None:
    """The segments: from the prepared image when there is one, else evaluated and applied in order."""
    ns, image = inst.ns, prep.image
    if image is not None:  # the tables and memories hold their image already
        funcs = inst.funcs
        ns["E"] = [() if items is None else [None if i == NULL else funcs[i] for i in items]
                   for items in image.elems] if image.elems else []
        ns["D"] = image.datas.copy()
        return
    module = inst.module
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
        if source.metered is not (gas_limit is not None) or source.canonical_nans is not canonical_nans:
            check_variant(source, metered=gas_limit is not None, canonical_nans=canonical_nans)  # raises
        module, compiled = source.module, source
    else:
        module, compiled = source, None
    inst = Instance(module, limits, gas_limit)
    try:
        _build(inst, imports or {}, compiled, canonical_nans)
    except BaseException:
        if confined(module):  # nothing of it can be reachable: free it at once (it holds cycles)
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
    if price:
        cell = meter.cell
        cell.cell_contents -= price
        if cell.cell_contents < 0:
            raise GasExhausted(f"instantiation costs {price} gas, over the limit of {meter.limit}")


def _build(inst: Instance, imports: Mapping[str, Mapping[str, Any]], compiled: CompiledModule | None,
           canonical_nans: bool = False) -> None:
    module, limits = inst.module, inst.limits
    if compiled is None:  # this instance's own compilation
        check_sizes(module, limits)  # before anything is allocated
        _charge_instantiation(inst, None)  # before any work is done
        compiled = CompiledModule(module, inst.meter.limit is not None, limits.max_registers, canonical_nans)
        prep = prepared(compiled)
        sized = prep.sized_for(limits, check_sizes)
    else:
        prep = prepared(compiled)
        known = prep.sized
        # the size checks, before anything is allocated (once per runtime limits)
        sized = known if known is not None and known.limits is limits else prep.sized_for(limits, check_sizes)
        _charge_instantiation(inst, compiled)  # before any work is done
        if not sized.registers_checked:
            check_limits(compiled, limits)
            sized.registers_checked = True
    if prep.code_ready:  # linking binds straight into a copy of the template
        if getrecursionlimit() < sized.depth_needed:
            check_recursion(sized.depth_needed, sized.depth_reason)
        maker = maker_for(prep)
        if maker is not None and maker(inst, imports, sized):  # every call's path: written out for the module
            _start(inst)
            return
        inst.ns = prep.ns.copy()
        link = prep.host_link
        if link is None or link.seen is None or not _link_hosts(inst, link, link.seen, imports):
            _resolve_imports(inst, prep, sized, imports)
    else:  # the first instance: link, compile (compile_small has nothing to do once the template exists)
        _resolve_imports(inst, prep, sized, imports)
        compile_small(compiled)  # small modules: every compile error surfaces here
        prep.code(compiled)
        inst.ns = {**prep.ns, **inst.ns}
        if getrecursionlimit() < sized.depth_needed:
            check_recursion(sized.depth_needed, sized.depth_reason)
    inst.ns["G"] = inst.meter
    if prep.f32_cell:
        inst.ns[CELL] = f32_cell()
    _define_functions(inst, prep, sized, compiled)
    _allocate(inst, prep, sized)
    _exports(inst, prep)
    _initialize(inst, prep)
    _start(inst)


def _start(inst: Instance) -> None:
    """Run the start function, if the module has one."""
    start = inst.module.start
    if start is not None:
        function = inst.funcs[start]
        assert function is not None  # the start function escapes: it has its Function
        function.invoke(())


__all__ = ["Instance", "RuntimeLimits", "ValType", "eval_const", "instantiate"]
