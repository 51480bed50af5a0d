"""What every instance of one compiled module shares: worked out once, copied per instance.

The pool makes a fresh instance for every call, so whatever instantiation
derives from the module alone is derived once per compiled module, in a
:class:`Prepared` (made on first instantiation and kept as long as the
:class:`~..compiler.CompiledModule` lives, in a table keyed by the module
object, which itself is left unchanged; derived from it alone, so a
deserialized module makes its own): the import plan (which index space each
import fills, its type and signature id, and the last value it was linked
to with how that value is bound), the namespace template (the base helpers,
every compiled function's float constants, and the signature id of each
type, ``sig{k}``, which ``call_indirect`` compares: this process's interned
ids, never the compiling one's, so code loaded from disk stays right), each function's code
object and whether it closes over the gas cell, which functions can escape
(only those get a :class:`~.functions.Function` object per instance: the
others are reached by ``call`` alone, through the namespace), the initial
values of globals with constant initializers, the memory image (the
writes of the active data segments) and the initial table contents (the
function indices the active element segments put there), the segment
lists after initialization, the export map, and the checks that depend on
the runtime limits (kept for the last limits object seen).

An instance then only makes what must be its own: its gas cell and meter,
a copy of the namespace, one Python function per wasm function over the
shared code object (globals: its namespace; closure: its gas cell), the
mutable globals, fresh zeroed memories with the image written in, fresh
table lists, the segment lists, and the host bindings that need its
:class:`~.functions.Caller`. Nothing mutable is shared between instances
(immutable globals with constant initializers share one
:class:`~.globals.Global` object: it cannot change).

For the common shape of a contract the whole walk is written out once more,
as a straight-line function (``runtime.maker``), kept here too.

Segments whose effect is not known from the module alone (an offset read
from an imported global, an imported table or memory, a segment out of
bounds, an element item that reads a global) make :attr:`Prepared.image`
None: such modules are initialized step by step per instance, in the
spec's order (``instance._initialize``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import itemgetter
from types import CodeType
from typing import Any, NamedTuple
from weakref import ref

from ..compiler import CompiledModule
from ..compiler.direct import escaped_functions
from ..compiler.f32cell import CELL
from ..errors import LinkError
from ..module import Elem, Expr, Import, Module, SegmentMode
from ..numeric_float import f32_from_bits, f64_from_bits
from ..numeric_int import MASK32, MASK64
from ..opcodes import Opcode
from ..recursion import RUN_MARGIN
from ..types import MAX_PAGES, PAGE_SIZE, ExternKind, FuncType, GlobalType, TableType
from .budget import memory_bytes, table_bytes
from .functions import Function, HostFunc, RawFn, host_entry
from .globals import Global
from .helpers import BASE_NAMESPACE
from .limits import RuntimeLimits
from .memory import Memory
from .table import Table

DYNAMIC: Any = object()
"""A global's initial value that must be evaluated per instance (it reads an imported global)."""

NULL = -1
"""A null reference in a prepared element list (otherwise: function indices)."""

_CONSTANTS: dict[Opcode, Callable[[Any], Any]] = {
    Opcode.I32_CONST: lambda v: v & MASK32,
    Opcode.I64_CONST: lambda v: v & MASK64,
    Opcode.F32_CONST: f32_from_bits,
    Opcode.F64_CONST: f64_from_bits,
    Opcode.REF_NULL: lambda _: None,
}
"""Constant instructions whose value depends on nothing else: their runtime value from the immediate."""


def constant(expr: Expr) -> Any:
    """The value of a one-instruction constant expression that reads nothing, else :data:`DYNAMIC`."""
    if len(expr) != 2:
        return DYNAMIC
    rule = _CONSTANTS.get(expr[0].op)
    return DYNAMIC if rule is None else rule(expr[0].imm)


def _item(expr: Expr) -> int | None:
    """A ``ref.func i`` (i) or ``ref.null`` (:data:`NULL`) element item; None for anything else."""
    if len(expr) != 2:
        return None
    op = expr[0].op
    if op is Opcode.REF_FUNC:
        index: int = expr[0].imm
        return index
    return NULL if op is Opcode.REF_NULL else None


def _items(elem: Elem) -> tuple[int, ...] | None:
    items = tuple(_item(expr) for expr in elem.init)
    return None if None in items else items  # type: ignore[return-value]


class ImportPlan:
    """One import: where it goes, its type, and the last value linked to it with its binding."""

    __slots__ = ("escaped", "ftype", "imp", "index", "kind", "name", "ref", "seen", "sig")

    def __init__(self, imp: Import, index: int, ftype: FuncType | None, sig: int, escaped: bool) -> None:
        self.imp = imp
        self.kind = imp.kind
        self.index = index  # in its own index space
        self.name, self.ref = f"f{index}", f"r{index}"  # a function's namespace names
        self.ftype = ftype
        self.sig = sig
        self.escaped = escaped  # a function import that needs a Function object of this instance
        self.seen: tuple[Any, Binding] | None = None  # (value, its binding): one per value, reused

    def bind(self, value: Any) -> Binding:
        """Check ``value`` as this function import and keep how it binds (reused while the value is)."""
        made = binding(self, value)
        self.seen = (value, made)
        return made


Binding = tuple[Function | None, RawFn | None, RawFn | None]
"""How a function import's value is linked, checked once per value: (function, entry, shared).

``function``: the value itself when it is a wasm :class:`Function` (its raw
callable is read per instance: a lazily compiled one changes); ``entry``: a
host callable that takes the caller first, bound to each instance's
:class:`Caller` as a method (``types.MethodType``); ``shared``: a host
callable that needs no caller, the same raw callable for every instance.
"""


def binding(plan: ImportPlan, value: Any) -> Binding:
    """How ``value`` links as the function import ``plan`` (LinkError if it cannot)."""
    ftype, name = plan.ftype, f"{plan.imp.module!r}.{plan.imp.name!r}"
    assert ftype is not None
    if isinstance(value, Function):
        if value.type != ftype:
            raise LinkError(f"import {name}: function type {value.type} does not match {ftype}")
        return (value, None, None)
    if isinstance(value, HostFunc):
        if value.caller:
            return (None, host_entry(value.fn, ftype, plan.sig, with_caller=True), None)
        return (None, None, host_entry(value.fn, ftype, plan.sig, with_caller=False))
    if callable(value) and not isinstance(value, Table | Memory | Global):
        return (None, None, host_entry(value, ftype, plan.sig, with_caller=False))
    raise LinkError(f"import {name}: expected a function, got {type(value).__name__}")


class FunctionPlan(NamedTuple):
    """One defined function: its names, code (None until compiled), type and whether it escapes."""

    func_index: int
    name: str  # f{index}: its raw callable in the namespace
    code: CodeType | None
    closes: bool  # metered code: a closure over the gas cell
    escaped: bool  # it gets a Function object (``r{index}``)
    ftype: FuncType
    sig: int
    ref: str  # r{index}

    @classmethod
    def of(cls, index: int, code: CodeType | None, escaped: bool, ftype: FuncType, sig: int) -> FunctionPlan:
        closes = code is not None and bool(code.co_freevars)
        return cls(index, f"f{index}", code, closes, escaped, ftype, sig, f"r{index}")


class Batch(NamedTuple):
    """Every defined function compiled, all closing over the gas cell or none: made in one pass.

    ``codes`` and ``names`` go to ``map(FunctionType, ...)`` (no Python loop
    per function); ``escaped`` lists (position, type, signature id, ``r{i}``)
    of the few that get a Function object.
    """

    codes: list[CodeType]
    names: list[str]
    closes: bool
    escaped: list[tuple[int, FuncType, int, str]]


class HostLink:
    """Imports that are all functions, none escaping: linked in one pass while their values stay the same.

    ``groups``: (module name, a getter of its imported names as a tuple), one
    per run of consecutive imports from one module; ``seen``: the values the
    last instance linked, in import order, with their entries, recorded when
    every one was a host function taking the caller (the pool's host ABI):
    an instance given the same objects binds each entry to its caller with
    ``types.MethodType``, without checking them again.
    """

    __slots__ = ("groups", "names", "nones", "seen")

    def __init__(self, plans: list[ImportPlan]) -> None:
        self.groups: list[tuple[str, Callable[[Any], tuple[Any, ...]]]] = []
        runs: list[tuple[str, list[str]]] = []
        for plan in plans:
            if runs and runs[-1][0] == plan.imp.module:
                runs[-1][1].append(plan.imp.name)
            else:
                runs.append((plan.imp.module, [plan.imp.name]))
        for module_name, fields in runs:
            self.groups.append((module_name, _getter(fields)))
        self.names = [plan.name for plan in plans]
        self.nones: list[None] = [None] * len(plans)  # Instance.funcs entries: no Function objects
        self.seen: tuple[tuple[Any, ...], tuple[RawFn, ...]] | None = None

    @staticmethod
    def applies(plans: list[ImportPlan]) -> bool:
        return bool(plans) and all(plan.kind == ExternKind.FUNC and not plan.escaped for plan in plans)


def _getter(fields: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving ``(source[f] for f in fields)`` as a tuple (``itemgetter`` is a scalar for one)."""
    if len(fields) > 1:
        return itemgetter(*fields)
    field = fields[0]
    return lambda source: (source[field],)


class Sized:
    """What depends on the runtime limits too: the stack budget and the growth caps (checked sizes)."""

    __slots__ = ("depth_needed", "depth_reason", "limits", "memory_caps", "reentry", "registers_checked",
                 "stack_units", "table_caps")

    def __init__(self, prepared: Prepared, limits: RuntimeLimits) -> None:
        self.limits = limits
        self.stack_units = limits.stack_units
        self.reentry = limits.host_reentry
        self.memory_caps = [min(MAX_PAGES if t.limits.max is None else t.limits.max, limits.memory_pages)
                            for t in prepared.module.mems]
        self.table_caps = [limits.table_elements if t.limits.max is None
                           else min(t.limits.max, limits.table_elements) for t in prepared.module.tables]
        self.registers_checked = False  # check_limits done for these limits
        self.depth_needed = limits.call_depth + RUN_MARGIN  # the Python recursion limit calls need
        self.depth_reason = f"running calls {limits.call_depth} deep"


class Image:
    """The initial contents of the module's own memories and tables, and its segment lists after init."""

    __slots__ = ("datas", "elems", "memory_writes", "table_writes")

    def __init__(self, memory_writes: list[list[tuple[int, bytes]]],
                 table_writes: list[list[tuple[int, tuple[int, ...]]]],
                 elems: list[tuple[int, ...] | None], datas: list[bytes]) -> None:
        self.memory_writes = memory_writes  # per defined memory: (offset, bytes) to write, in order
        self.table_writes = table_writes  # per defined table: (offset, function indices) to write
        self.elems = elems  # per element segment: its items if passive, None once dropped
        self.datas = datas  # per data segment: its bytes if passive, b"" once dropped


class Prepared:
    """Everything instantiating one compiled module needs that depends on the module alone."""

    __slots__ = ("batch", "code_ready", "escaped", "exports", "f32_cell", "functions", "global_names",
                 "global_rows", "globals", "host_link", "host_memory", "image", "import_rows", "imported",
                 "imported_global_names", "imports", "initial_bytes", "maker", "maker_code", "memory_rows",
                 "module", "ns", "sized", "table_names")

    def __init__(self, compiled: CompiledModule) -> None:
        module = self.module = compiled.module
        self.escaped = escaped_functions(module)
        self.imports = _import_plans(module, compiled.signatures, self.escaped)
        self.import_rows = [(plan, plan.imp.module, plan.imp.name, plan.kind == ExternKind.FUNC, plan.name,
                             plan.ref, plan.escaped) for plan in self.imports]  # what linking reads, unpacked
        self.host_link = HostLink(self.imports) if HostLink.applies(self.imports) else None
        counts = [0, 0, 0, 0]
        for imp in module.imports:
            counts[imp.kind] += 1
        self.imported = tuple(counts)  # imports per index space (ExternKind order)
        self.globals = _global_plans(module)
        self.global_names = _global_names(module, self.globals)
        imported_globals = counts[ExternKind.GLOBAL]
        names = dict(self.global_names)
        self.imported_global_names = [(i, name) for i, name in self.global_names if i < imported_globals]
        self.global_rows = [(gtype, init, value, names.get(index)) for index, (gtype, init, value)
                            in enumerate(self.globals, start=imported_globals)]  # name None: in the template
        self.table_names = [(f"t{i}", f"T{i}") for i in range(counts[ExternKind.TABLE] + len(module.tables))]
        self.initial_bytes = (sum(memory_bytes(t.limits.min) for t in module.mems)
                              + sum(table_bytes(t.limits.min) for t in module.tables))
        self.image = _image(module, counts[ExternKind.TABLE], counts[ExternKind.MEMORY])
        self.memory_rows = [(t.limits.min * PAGE_SIZE, t.limits.max,
                             [(offset, offset + len(chunk), chunk) for offset, chunk
                              in (self.image.memory_writes[i] if self.image is not None else [])])
                            for i, t in enumerate(module.mems)]  # (bytes, maximum, image writes) per memory
        self.exports = [(e.name, int(e.kind), e.index) for e in module.exports]
        memory_kind = ExternKind.MEMORY
        exported = [e.index for e in module.exports if e.kind == memory_kind]
        has_memory = bool(module.mems) or counts[memory_kind] > 0
        self.host_memory = exported[0] if exported else (0 if has_memory else None)
        self.sized: Sized | None = None
        self.ns: dict[str, Any] = {}
        self.functions: list[FunctionPlan] = []
        self.batch: Batch | None = None
        self.maker: tuple[Any, Any] | None = None  # (the host bindings it was made for, the maker or None)
        self.maker_code: tuple[str, CodeType] | None = None  # the last maker's (source, code object)
        self.code_ready = False
        self.f32_cell = False  # its code rounds f32 through a cell: each instance gets its own (instance)

    def sized_for(self, limits: RuntimeLimits, check: Callable[[Module, RuntimeLimits], None]) -> Sized:
        """The limit-dependent part for ``limits`` (``check``: the size check, run when they are new)."""
        sized = self.sized
        if sized is not None and (sized.limits is limits or sized.limits == limits):
            return sized
        check(self.module, limits)
        sized = self.sized = Sized(self, limits)
        return sized

    def code(self, compiled: CompiledModule) -> None:
        """Make the namespace template and the function plans (once, after eager compilation).

        The names every instance shares (the base helpers, float constants,
        immutable constant globals, signature ids) go into one dict that the template names
        as its ``__builtins__``: compiled code finds them there when its own
        globals (the instance's namespace) lack them, as fast as in globals
        (CPython specializes both lookups), and an instance copies only the
        template's one entry instead of hundreds. Nothing writes to it:
        every name an instance binds goes into its own namespace.
        """
        if self.code_ready:
            return
        module, first = self.module, self.imported[ExternKind.FUNC]
        shared = dict(BASE_NAMESPACE)
        plans = []
        for defined, func in enumerate(module.funcs):
            index = first + defined
            ready = compiled.codes.get(index)
            if ready is not None:
                shared.update(ready[1])
            code = None if ready is None else ready[0]
            type_index = func.type_index
            plans.append(FunctionPlan.of(index, code, index in self.escaped, module.types[type_index],
                                         compiled.signatures[type_index]))
        for index, (gtype, _, value) in enumerate(self.globals, start=self.imported[ExternKind.GLOBAL]):
            if not gtype.mutable and value is not DYNAMIC:
                shared[f"gv{index}"] = value.v
        for type_index, sig in enumerate(compiled.signatures):  # what call_indirect compares (sig{k})
            shared[f"sig{type_index}"] = sig
        self.ns, self.functions, self.batch = {"__builtins__": shared}, plans, _batch(plans)
        self.f32_cell = any(plan.code is None or _names(plan.code, CELL) for plan in plans)  # a function
        # compiled later may use one
        self.code_ready = True


def _names(code: CodeType, name: str) -> bool:
    """Whether ``code`` or a code object nested in it (a metered function's) reads global ``name``."""
    return name in code.co_names or any(
        isinstance(const, CodeType) and _names(const, name) for const in code.co_consts)


def _batch(plans: list[FunctionPlan]) -> Batch | None:
    """The functions as one :class:`Batch`, when they are all compiled and close alike; else None."""
    codes = [plan.code for plan in plans]
    if not plans or None in codes or len({plan.closes for plan in plans}) != 1:
        return None
    escaped = [(position, plan.ftype, plan.sig, plan.ref)
               for position, plan in enumerate(plans) if plan.escaped]
    return Batch(codes, [plan.name for plan in plans], plans[0].closes, escaped)  # type: ignore[arg-type]


_PREPARED: dict[int, tuple[ref[CompiledModule], Prepared]] = {}
"""Each live compiled module's Prepared, by the module's id (its entry goes when the module does).

The module object itself is left as it is (so a deserialized or copied module
simply makes its own); the weak reference both confirms the id and removes
the entry when the module is freed.
"""


def prepared(compiled: CompiledModule) -> Prepared:
    """The compiled module's :class:`Prepared` (made on its first instantiation, then kept)."""
    key = id(compiled)
    entry = _PREPARED.get(key)
    if entry is not None and entry[0]() is compiled:
        return entry[1]
    made = Prepared(compiled)
    _PREPARED[key] = (ref(compiled, partial(_forget, key)), made)
    return made


def existing(compiled: CompiledModule) -> Prepared | None:
    """The compiled module's :class:`Prepared` if it has one already (None: never instantiated)."""
    entry = _PREPARED.get(id(compiled))
    return entry[1] if entry is not None and entry[0]() is compiled else None


def _forget(key: int, _: object) -> None:
    _PREPARED.pop(key, None)


def _import_plans(module: Module, signatures: list[int], escaped: frozenset[int]) -> list[ImportPlan]:
    plans = []
    counts = [0, 0, 0, 0]
    for imp in module.imports:
        index = counts[imp.kind]
        counts[imp.kind] += 1
        if imp.kind == ExternKind.FUNC:
            assert isinstance(imp.desc, int)
            ftype, sig = module.types[imp.desc], signatures[imp.desc]
            plans.append(ImportPlan(imp, index, ftype, sig, index in escaped))
        else:
            plans.append(ImportPlan(imp, index, None, 0, False))
    return plans


def _global_plans(module: Module) -> list[tuple[GlobalType, Expr, Any]]:
    """Per defined global: its type, initializer and value (a shared Global if immutable, or DYNAMIC).

    A ``ref.func`` initializer is per instance (it names the instance's own
    function): DYNAMIC like a read of an imported global.
    """
    plans = []
    for definition in module.globals:
        value = constant(definition.init)
        if value is not DYNAMIC and not definition.type.mutable:
            value = Global.of_runtime(definition.type, value)  # immutable: one object for all instances
        plans.append((definition.type, definition.init, value))
    return plans


def _global_names(module: Module, plans: list[tuple[GlobalType, Expr, Any]]) -> list[tuple[int, str]]:
    """(index, namespace name) of every global an instance binds itself: ``gb{i}`` or ``gv{i}``.

    Immutable defined globals with a constant value are in the template already.
    """
    types = module.global_types
    imported = len(types) - len(plans)
    names = []
    for index, gtype in enumerate(types):
        in_template = index >= imported and not gtype.mutable and plans[index - imported][2] is not DYNAMIC
        if not in_template:
            names.append((index, f"gb{index}" if gtype.mutable else f"gv{index}"))
    return names


def _image(module: Module, imported_tables: int, imported_memories: int) -> Image | None:
    """The memory and table writes of the active segments, if the module alone decides them (else None)."""
    memory_writes: list[list[tuple[int, bytes]]] = [[] for _ in module.mems]
    table_writes: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in module.tables]
    elems: list[tuple[int, ...] | None] = []
    for elem in module.elems:
        items = _items(elem) if elem.mode is not SegmentMode.DECLARATIVE else ()
        if items is None:
            return None
        elems.append(items if elem.mode is SegmentMode.PASSIVE else None)
        if elem.mode is SegmentMode.ACTIVE:
            offset, table = _offset(elem.offset), elem.table - imported_tables
            if offset is None or table < 0 or offset + len(items) > module.tables[table].limits.min:
                return None
            table_writes[table].append((offset, items))
    datas: list[bytes] = []
    for data in module.datas:
        datas.append(data.init if data.mode is SegmentMode.PASSIVE else b"")
        if data.mode is SegmentMode.ACTIVE:
            offset, memory = _offset(data.offset), data.memory - imported_memories
            size = module.mems[memory].limits.min * PAGE_SIZE if memory >= 0 else 0
            if offset is None or memory < 0 or offset + len(data.init) > size:
                return None
            if data.init:
                memory_writes[memory].append((offset, data.init))
    return Image(memory_writes, table_writes, elems, datas)


def _offset(expr: Expr | None) -> int | None:
    if expr is None or len(expr) != 2 or expr[0].op is not Opcode.I32_CONST:
        return None
    offset: int = expr[0].imm & MASK32
    return offset


def confined(module: Module) -> bool:
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


def new_table(table_type: TableType, cap: int, budget: Any, writes: list[tuple[int, tuple[int, ...]]],
              funcs: list[Function | None]) -> Table:
    """A defined table at its initial size with its prepared elements (limits checked beforehand)."""
    elems: list[Any] = [None] * table_type.limits.min
    for offset, items in writes:
        elems[offset:offset + len(items)] = [None if i == NULL else funcs[i] for i in items]
    return Table.checked(elems, table_type.elem, table_type.limits.max, cap, budget)


__all__ = ["DYNAMIC", "NULL", "Batch", "Binding", "FunctionPlan", "HostLink", "Image", "ImportPlan",
           "Prepared", "Sized", "confined", "constant", "new_table", "prepared"]
