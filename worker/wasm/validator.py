"""Module validation (WebAssembly 2.0, spec chapter 3): a decoded Module -> per-body CodeInfo.

Theory of operation
-------------------
:func:`validate` checks a :class:`~wasmpool.wasm.module.Module` in the spec's
order of definitions and raises the first
:class:`~wasmpool.wasm.errors.ValidationError` it finds:

1. the context C: type indices of imported and defined functions, the
   limits of tables and memories (at most one memory in 2.0);
2. exports (names unique, indices in range) and the start function (type
   ``[] -> []``);
3. global initialisers, element segments and data segments, whose
   constant expressions see only the *imported* globals (the spec's context
   C'; the spec suite holds element and data offsets to the same rule as
   global initialisers, spec issue #1522);
4. every function body, by :mod:`wasmpool.wasm.validate_code`, which returns
   the operand-stack heights the compiler names its registers by.

Constant expressions are sequences of ``t.const``, ``ref.null``,
``ref.func`` and ``global.get`` of an immutable global, that leave exactly
one value of the expected type. ``ref.func x`` inside a function body is
valid only for x in C.refs: the functions referenced outside function bodies
(element segments, exports, global initialisers).

Data indices (``memory.init``, ``data.drop``) are bounded by the data count
section's value, or by the number of data segments when there is no such
section. (Whether using data indices without the section is malformed is
the decoder's question, not the validator's.)

Messages use the reference interpreter's wording first ("type mismatch",
"unknown global", ...), then the details, and say where: section, function
index (imports counted) and byte offset when the module records one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import ValidationError
from .module import SECTION_NAMES, CodeInfo, Expr, Instr, Module, SectionId, SegmentMode
from .opcodes import Opcode
from .types import (
    MAX_PAGES,
    MAX_TABLE_SIZE,
    ExternKind,
    FuncType,
    GlobalType,
    Limits,
    MemType,
    TableType,
    ValType,
)
from .validate_code import CodeValidator, Context, Invalid

CONST_TYPES: dict[int, ValType] = {
    Opcode.I32_CONST: ValType.I32,
    Opcode.I64_CONST: ValType.I64,
    Opcode.F32_CONST: ValType.F32,
    Opcode.F64_CONST: ValType.F64,
    Opcode.REF_FUNC: ValType.FUNCREF,
}
"""Constant instructions whose result type does not depend on their immediate."""

EMPTY_FUNC_TYPE = FuncType((), ())


def _section(sid: SectionId) -> str:
    return SECTION_NAMES[sid]


def _fail(message: str, sid: SectionId, offset: int | None = None) -> ValidationError:
    return ValidationError(message, offset=offset, section=_section(sid))


# -- types -----------------------------------------------------------------------------------------


def _check_limits(limits: Limits, bound: int, what: str, sid: SectionId) -> None:
    """Limits valid within ``bound`` (spec 3.2.1): both ends in range, min <= max."""
    too_big = limits.min > bound or (limits.max is not None and limits.max > bound)
    if too_big:
        raise _fail(what, sid)
    if limits.max is not None and limits.min > limits.max:
        raise _fail(f"size minimum must not be greater than maximum ({limits})", sid)


def _check_table_type(table: TableType, sid: SectionId) -> None:
    if not table.elem.is_ref:
        raise _fail(f"type mismatch: table element type {table.elem} is not a reference type", sid)
    _check_limits(table.limits, MAX_TABLE_SIZE, "table size must be at most 2^32-1", sid)


def _check_mem_type(mem: MemType, sid: SectionId) -> None:
    _check_limits(mem.limits, MAX_PAGES, f"memory size must be at most {MAX_PAGES} pages (4GiB)", sid)


def _check_imports(module: Module) -> None:
    """Every import's description is a valid external type."""
    sid = SectionId.IMPORT
    for n, imp in enumerate(module.imports):
        desc = imp.desc
        if isinstance(desc, TableType):
            _check_table_type(desc, sid)
        elif isinstance(desc, MemType):
            _check_mem_type(desc, sid)
        elif isinstance(desc, int) and imp.kind == ExternKind.FUNC:
            if not 0 <= desc < len(module.types):
                raise _fail(f"unknown type {desc} (import {n}, {imp.module}.{imp.name})", sid)
        elif not isinstance(desc, GlobalType) or imp.kind != ExternKind.GLOBAL:
            raise _fail(f"import {n} ({imp.module}.{imp.name}) has a description of the wrong kind", sid)


def _check_defined(module: Module) -> None:
    """Function type indices, table and memory types, and the single-memory rule."""
    imported = module.num_imported_funcs
    for n, func in enumerate(module.funcs):
        if not 0 <= func.type_index < len(module.types):
            raise ValidationError(f"unknown type {func.type_index}", None, _section(SectionId.FUNCTION),
                                  imported + n)
    for table in module.tables:
        _check_table_type(table, SectionId.TABLE)
    for mem in module.mems:
        _check_mem_type(mem, SectionId.MEMORY)
    if len(module.mem_types) > 1:
        raise _fail(f"multiple memories ({len(module.mem_types)}); WebAssembly 2.0 allows one",
                    SectionId.MEMORY)


# -- constant expressions --------------------------------------------------------------------------


def _const_type(ins: Instr, nfuncs: int, globals_: tuple[GlobalType, ...]) -> ValType:
    """The type one instruction of a constant expression pushes; raises for non-constant ones."""
    op = ins.op
    if op == Opcode.GLOBAL_GET:
        index = ins.imm
        if not 0 <= index < len(globals_):
            raise Invalid(f"unknown global {index}")
        glob: GlobalType = globals_[index]
        if glob.mutable:
            raise Invalid(f"constant expression required: global {index} is mutable")
        return glob.valtype
    if op == Opcode.REF_NULL:
        return ValType(ins.imm)
    if op == Opcode.REF_FUNC and not 0 <= ins.imm < nfuncs:
        raise Invalid(f"unknown function {ins.imm}")
    t = CONST_TYPES.get(op)
    if t is None:
        raise Invalid("constant expression required")
    return t


def _check_const(expr: Expr, want: ValType, nfuncs: int, globals_: tuple[GlobalType, ...],
                 sid: SectionId) -> None:
    """``expr`` is a constant expression leaving exactly one ``want`` (spec 3.3.10)."""
    if not expr or expr[-1].op != Opcode.END:
        raise _fail("constant expression must end with end", sid, expr[-1].offset if expr else None)
    stack: list[ValType] = []
    for ins in expr[:-1]:
        try:
            stack.append(_const_type(ins, nfuncs, globals_))
        except Invalid as err:
            raise _fail(err.reason, sid, ins.offset) from None
    if stack != [want]:
        got = " ".join(stack) or "nothing"
        raise _fail(f"type mismatch: constant expression must give {want}, gives {got}", sid,
                    expr[-1].offset)


def _func_refs(exprs: Iterable[Expr]) -> Iterator[int]:
    for expr in exprs:
        for ins in expr:
            if ins.op == Opcode.REF_FUNC:
                yield ins.imm


def _declared_refs(module: Module) -> frozenset[int]:
    """C.refs: functions referenced outside function bodies (segments, exports, globals)."""
    exprs: list[Expr] = [g.init for g in module.globals]
    for elem in module.elems:
        exprs.extend(elem.init)
    refs = set(_func_refs(exprs))
    refs.update(e.index for e in module.exports if e.kind == ExternKind.FUNC)
    return frozenset(refs)


# -- module-level definitions ----------------------------------------------------------------------


def _imported_globals(module: Module) -> tuple[GlobalType, ...]:
    """The globals constant expressions may read (context C')."""
    return tuple(i.desc for i in module.imports if isinstance(i.desc, GlobalType))


def _check_globals(module: Module, ctx: Context) -> None:
    nfuncs = len(ctx.funcs)
    visible = _imported_globals(module)
    for glob in module.globals:
        _check_const(glob.init, glob.type.valtype, nfuncs, visible, SectionId.GLOBAL)


def _check_exports(module: Module, ctx: Context) -> None:
    sizes = {
        ExternKind.FUNC: (len(ctx.funcs), "function"),
        ExternKind.TABLE: (len(ctx.tables), "table"),
        ExternKind.MEMORY: (ctx.mems, "memory"),
        ExternKind.GLOBAL: (len(ctx.globals), "global"),
    }
    seen: set[str] = set()
    for export in module.exports:
        size, what = sizes[export.kind]
        if not 0 <= export.index < size:
            raise _fail(f"unknown {what} {export.index} (export {export.name!r})", SectionId.EXPORT)
        if export.name in seen:
            raise _fail(f"duplicate export name {export.name!r}", SectionId.EXPORT)
        seen.add(export.name)


def _check_start(module: Module, funcs: tuple[FuncType, ...]) -> None:
    start = module.start
    if start is None:
        return
    if not 0 <= start < len(funcs):
        raise _fail(f"unknown function {start}", SectionId.START)
    if funcs[start] != EMPTY_FUNC_TYPE:
        raise _fail(f"start function must have type () -> (), function {start} has {funcs[start]}",
                    SectionId.START)


def _check_elems(module: Module, ctx: Context) -> None:
    sid = SectionId.ELEMENT
    nfuncs = len(ctx.funcs)
    visible = _imported_globals(module)
    for n, elem in enumerate(module.elems):
        if not elem.type.is_ref:
            raise _fail(f"type mismatch: element segment {n} has non-reference type {elem.type}", sid)
        for init in elem.init:
            _check_const(init, elem.type, nfuncs, visible, sid)
        if elem.mode != SegmentMode.ACTIVE:
            continue
        if not 0 <= elem.table < len(ctx.tables):
            raise _fail(f"unknown table {elem.table} (element segment {n})", sid)
        if elem.offset is None:
            raise _fail(f"active element segment {n} has no offset", sid)
        _check_const(elem.offset, ValType.I32, nfuncs, visible, sid)
        if ctx.tables[elem.table].elem is not elem.type:
            raise _fail(f"type mismatch: element segment {n} of {elem.type} for table {elem.table} "
                        f"of {ctx.tables[elem.table].elem}", sid)


def _check_datas(module: Module, ctx: Context) -> None:
    sid = SectionId.DATA
    visible = _imported_globals(module)
    for n, data in enumerate(module.datas):
        if data.mode != SegmentMode.ACTIVE:
            continue
        if not 0 <= data.memory < ctx.mems:
            raise _fail(f"unknown memory {data.memory} (data segment {n})", sid)
        if data.offset is None:
            raise _fail(f"active data segment {n} has no offset", sid)
        _check_const(data.offset, ValType.I32, len(ctx.funcs), visible, sid)


def _context(module: Module) -> Context:
    """The spec's context C for a module whose type indices were already checked."""
    return Context(
        types=module.types,
        funcs=module.func_types,
        tables=module.table_types,
        mems=len(module.mem_types),
        globals=module.global_types,
        elems=tuple(e.type for e in module.elems),
        datas=module.data_count if module.data_count is not None else len(module.datas),
        refs=_declared_refs(module),
    )


def validate(module: Module) -> tuple[CodeInfo, ...]:
    """Validate ``module`` per the WebAssembly 2.0 spec; one CodeInfo per defined function.

    Raises :class:`ValidationError` at the first rule the module breaks.
    """
    _check_imports(module)
    _check_defined(module)
    ctx = _context(module)
    _check_exports(module, ctx)
    _check_start(module, ctx.funcs)
    _check_globals(module, ctx)
    _check_elems(module, ctx)
    _check_datas(module, ctx)
    checker = CodeValidator(ctx)
    first = module.num_imported_funcs
    return tuple(checker.check(func, first + n) for n, func in enumerate(module.funcs))
