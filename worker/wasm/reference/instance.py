"""Instantiation for the reference interpreter (spec 4.5.4), written plainly.

In the spec's order: resolve the imports (functions, tables, memories,
globals, matched by the spec's rules, else :class:`LinkError`); allocate the
module's functions, globals (initializers run on the machine itself, like
any instruction sequence), tables and memories; collect the exports; apply
the element segments in order (active ones through the ``table.init`` rule,
so an out-of-bounds segment traps with the earlier ones already written,
then dropped; declarative ones dropped), then the data segments the same
way; finally run the start function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import LinkError, Trap, TrapKind
from ..module import Expr, Import, Module, SegmentMode
from ..types import MAX_PAGES, ExternKind, GlobalType, Limits, MemType, TableType
from .machine import Frame, Label, analyse, call_export, run
from .store import (
    DEFAULT_CALL_DEPTH,
    DEFAULT_TABLE_ELEMENTS,
    RefFunction,
    RefGlobal,
    RefInstance,
    RefMemory,
    RefTable,
)

Imports = Mapping[str, Mapping[str, Any]]


def _limits_match(actual: Limits, declared: Limits) -> bool:
    if actual.min < declared.min:
        return False
    return declared.max is None or (actual.max is not None and actual.max <= declared.max)


def _lookup(imports: Imports, imp: Import) -> Any:
    try:
        return imports[imp.module][imp.name]
    except (KeyError, TypeError):
        raise LinkError(f"unknown import {imp.module!r}.{imp.name!r}") from None


def _link(inst: RefInstance, imp: Import, value: Any, call_depth: int) -> None:
    """Add the import ``value`` to its index space if it matches ``imp`` (else LinkError)."""
    where = f"import {imp.module!r}.{imp.name!r}"
    desc = imp.desc
    if imp.kind == ExternKind.FUNC:
        assert isinstance(desc, int)
        ftype = inst.module.types[desc]
        if isinstance(value, RefFunction):
            if value.type != ftype:
                raise LinkError(f"{where}: function type {value.type} is not {ftype}")
            inst.funcs.append(value)
        elif callable(value):
            inst.funcs.append(RefFunction(ftype, call_export, host=value, depth_limit=call_depth))
        else:
            raise LinkError(f"{where}: not a function")
    elif imp.kind == ExternKind.TABLE:
        assert isinstance(desc, TableType)
        if not isinstance(value, RefTable) or value.elem != desc.elem \
                or not _limits_match(value.type.limits, desc.limits):
            raise LinkError(f"{where}: not a matching table")
        inst.tables.append(value)
    elif imp.kind == ExternKind.MEMORY:
        assert isinstance(desc, MemType)
        if not isinstance(value, RefMemory) or not _limits_match(value.type.limits, desc.limits):
            raise LinkError(f"{where}: not a matching memory")
        inst.memories.append(value)
    else:
        assert isinstance(desc, GlobalType)
        if not isinstance(value, RefGlobal) or value.type != desc:
            raise LinkError(f"{where}: not a matching global")
        inst.globals.append(value)


def evaluate(inst: RefInstance, expr: Expr) -> Any:
    """A constant expression's value, computed by the machine like any instruction sequence."""
    frame = Frame(inst, analyse(expr), [], 1)
    frame.labels.append(Label(1, len(expr), 0))
    run(frame)
    return frame.stack[-1]


def _allocate(inst: RefInstance, call_depth: int, memory_pages: int, table_elements: int) -> None:
    module = inst.module
    for code in module.funcs:
        inst.funcs.append(RefFunction(module.types[code.type_index], call_export, inst, code,
                                     depth_limit=call_depth))
    for glob in module.globals:
        inst.globals.append(RefGlobal(glob.type, evaluate(inst, glob.init)))
    for ttype in module.tables:
        if ttype.limits.min > table_elements:
            raise LinkError(f"a table of {ttype.limits.min} elements is above the limit")
        inst.tables.append(RefTable(ttype, table_elements))
    for mtype in module.mems:
        if mtype.limits.min > memory_pages:
            raise LinkError(f"a memory of {mtype.limits.min} pages is above the limit")
        inst.memories.append(RefMemory(mtype.limits, memory_pages))
    spaces: dict[ExternKind, list[Any]] = {
        ExternKind.FUNC: inst.funcs, ExternKind.TABLE: inst.tables,
        ExternKind.MEMORY: inst.memories, ExternKind.GLOBAL: inst.globals,
    }
    for export in module.exports:
        inst.exports[export.name] = spaces[ExternKind(export.kind)][export.index]


def _initialize(inst: RefInstance) -> None:
    module = inst.module
    inst.elems = [[evaluate(inst, e) for e in elem.init] for elem in module.elems]
    inst.datas = [data.init for data in module.datas]
    for index, elem in enumerate(module.elems):
        if elem.mode is SegmentMode.ACTIVE:
            assert elem.offset is not None
            offset, segment, table = evaluate(inst, elem.offset), inst.elems[index], inst.tables[elem.table]
            if offset + len(segment) > len(table.elems):
                raise Trap(TrapKind.OUT_OF_BOUNDS_TABLE)
            table.elems[offset:offset + len(segment)] = segment
        if elem.mode is not SegmentMode.PASSIVE:
            inst.elems[index] = []
    for index, data in enumerate(module.datas):
        if data.mode is SegmentMode.ACTIVE:
            assert data.offset is not None
            offset, payload, mem = evaluate(inst, data.offset), inst.datas[index], inst.memories[data.memory]
            mem.check(offset, len(payload))
            mem.data[offset:offset + len(payload)] = payload
            inst.datas[index] = b""


def instantiate(module: Module, imports: Imports | None = None, *, call_depth: int = DEFAULT_CALL_DEPTH,
                memory_pages: int = MAX_PAGES, table_elements: int = DEFAULT_TABLE_ELEMENTS,
                canonical_nans: bool = False) -> RefInstance:
    """Link, allocate and initialize ``module`` on the reference machine, then run its start function.

    Host functions in ``imports`` are plain callables taking and returning bit
    patterns (None, one value, or a tuple for several results).
    ``canonical_nans``: the engine option of that name; every NaN made by
    float arithmetic, rounding, ``min``/``max``, promotion and demotion is the
    positive canonical NaN.
    """
    inst = RefInstance(module, canonical_nans=canonical_nans)
    for imp in module.imports:
        _link(inst, imp, _lookup(imports or {}, imp), call_depth)
    _allocate(inst, call_depth, memory_pages, table_elements)
    _initialize(inst)
    if module.start is not None:
        call_export(inst.funcs[module.start], [])
    return inst
