"""Hand-written tests of the validator: every error path, messages, stack heights.

Modules are built directly from ``wasmpool.wasm.module``'s dataclasses and
``Instr`` tuples, so these tests need neither wat2wasm nor the decoder. One
"rich" module supplies every index space (a memory, two tables of different
reference types, globals, passive segments, several function types); each
case is a function body, sometimes with a tweak to the module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from wasmpool.wasm.errors import ValidationError
from wasmpool.wasm.module import (
    CodeInfo,
    Data,
    Elem,
    Export,
    Func,
    Global,
    Import,
    Instr,
    Module,
    SegmentMode,
)
from wasmpool.wasm.opcodes import OPS, Imm, Opcode
from wasmpool.wasm.types import ExternKind, FuncType, GlobalType, Limits, MemType, TableType, ValType
from wasmpool.wasm.validator import validate

I32, I64, F32, F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64
FUNCREF, EXTERNREF = ValType.FUNCREF, ValType.EXTERNREF
Op = Opcode
BODY_START = 0x20  # offset of a body's first instruction; each instruction "takes" 2 bytes

Step = tuple[Opcode, Any] | Opcode


def instrs(ops: Sequence[Step], start: int = BODY_START) -> tuple[Instr, ...]:
    """``Instr`` tuples with made-up but distinct offsets (``start`` + 2 per instruction)."""
    out = []
    for n, op in enumerate(ops):
        code, imm = op if isinstance(op, tuple) else (op, None)
        out.append(Instr(code, imm, start + 2 * n))
    return tuple(out)


def body(*ops: Step) -> tuple[Instr, ...]:
    """A function body: the instructions plus the final ``end``."""
    return instrs([*ops, Op.END])


def expr(*ops: Step) -> tuple[Instr, ...]:
    """A constant expression: the instructions plus ``end``, at offset 0."""
    return instrs([*ops, Op.END], start=0)


def const(t: ValType, value: int = 0) -> tuple[Instr, ...]:
    """A constant expression producing ``t``."""
    code = {I32: Op.I32_CONST, I64: Op.I64_CONST, F32: Op.F32_CONST, F64: Op.F64_CONST}.get(t)
    first = (Op.REF_NULL, t) if code is None else (code, value)
    return expr(first)


def i32(value: int = 0) -> Step:
    return (Op.I32_CONST, value)


def i64(value: int = 0) -> Step:
    return (Op.I64_CONST, value)


def f32() -> Step:
    return (Op.F32_CONST, 0)


def f64() -> Step:
    return (Op.F64_CONST, 0)


def null(t: ValType) -> Step:
    return (Op.REF_NULL, t)


TYPES = (
    FuncType((), ()),  # 0
    FuncType((I32,), (I32,)),  # 1
    FuncType((I32, I32), (I32,)),  # 2
    FuncType((), (I32, I64)),  # 3
    FuncType((I32,), (I32, I32)),  # 4
)
IMPORTS = (
    Import("env", "f", ExternKind.FUNC, 1),  # func 0: [i32] -> [i32]
    Import("env", "g", ExternKind.GLOBAL, GlobalType(I32, False)),  # global 0, immutable
    Import("env", "h", ExternKind.GLOBAL, GlobalType(I64, True)),  # global 1, mutable
)
RICH = Module(
    types=TYPES,
    imports=IMPORTS,
    tables=(TableType(FUNCREF, Limits(1)), TableType(EXTERNREF, Limits(1))),
    mems=(MemType(Limits(1, 2)),),
    globals=(
        Global(GlobalType(F32, True), const(F32)),  # global 2, mutable
        Global(GlobalType(I32, False), expr((Op.GLOBAL_GET, 0))),  # global 3
    ),
    elems=(
        Elem(FUNCREF, (expr((Op.REF_FUNC, 0)),), SegmentMode.PASSIVE),
        Elem(EXTERNREF, (const(EXTERNREF),), SegmentMode.PASSIVE),
    ),
    datas=(Data(b"abc", SegmentMode.PASSIVE),),
    data_count=1,
)
FIRST_FUNC = 1  # one imported function


def func_module(code: tuple[Instr, ...], type_index: int = 0, locals_: tuple[ValType, ...] = (),
                base: Module = RICH, **changes: Any) -> Module:
    """``base`` with one defined function (index 1) plus ``changes`` to its fields."""
    return dataclasses.replace(base, funcs=(Func(type_index, locals_, code),), **changes)


def info(code: tuple[Instr, ...], type_index: int = 0, locals_: tuple[ValType, ...] = ()) -> CodeInfo:
    (result,) = validate(func_module(code, type_index, locals_))
    return result


def rejected(module: Module) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate(module)
    assert type(caught.value) is ValidationError
    return caught.value


# -- function bodies: each error path --------------------------------------------------------------

BAD_BODIES: list[Any] = [
    pytest.param(body(i32(1), f64(), Op.I32_ADD, Op.DROP), 0,
                 "type mismatch: expected i32, got f64", id="binary-operand-type"),
    pytest.param(body(Op.I32_ADD, Op.DROP), 0, "type mismatch: expected i32, got nothing", id="empty-stack"),
    pytest.param(body(i32(1)), 0, "type mismatch", id="value-left-at-function-end"),
    pytest.param(body(), 1, "type mismatch", id="missing-result"),
    pytest.param(body(i64(1)), 1, "type mismatch: expected i32, got i64", id="wrong-result"),
    pytest.param(body((Op.BLOCK, None), i32(1), Op.END), 0, "type mismatch", id="block-leftover"),
    pytest.param(body((Op.BLOCK, I32), Op.END, Op.DROP), 0, "type mismatch", id="block-missing-result"),
    pytest.param(body((Op.BLOCK, 2), Op.END), 0, "type mismatch", id="block-missing-params"),
    pytest.param(body((Op.BLOCK, 9), Op.END), 0, "unknown type 9", id="blocktype-unknown-type"),
    pytest.param(body(i32(1), (Op.IF, I32), i32(1), Op.END, Op.DROP), 0,
                 "type mismatch", id="if-without-else-with-result"),
    pytest.param(body(i32(1), i32(1), (Op.IF, 4), Op.DROP, Op.END), 0,
                 "type mismatch", id="if-without-else-params-differ"),
    pytest.param(body(f32(), (Op.IF, None), Op.END), 0, "type mismatch: expected i32, got f32",
                 id="if-condition"),
    pytest.param(body(Op.ELSE), 0, "else without a matching if", id="else-without-if"),
    pytest.param(body((Op.BR, 1)), 0, "unknown label 1", id="br-unknown-label"),
    pytest.param(body((Op.BLOCK, I32), (Op.BR, 0), Op.END, Op.DROP), 0, "type mismatch",
                 id="br-missing-value"),
    pytest.param(body(i32(0), (Op.BR_IF, 2)), 0, "unknown label 2", id="br_if-unknown-label"),
    pytest.param(body((Op.BLOCK, I32), i32(0), (Op.BR_IF, 0), Op.END, Op.DROP), 0,
                 "type mismatch", id="br_if-missing-value"),
    pytest.param(body(i32(0), (Op.BR_TABLE, ((0, 5), 0))), 0, "unknown label 5",
                 id="br_table-unknown-target"),
    pytest.param(body(i32(0), (Op.BR_TABLE, ((), 3))), 0, "unknown label 3",
                 id="br_table-unknown-default"),
    pytest.param(body((Op.BLOCK, I32), i32(1), i32(0), (Op.BR_TABLE, ((1,), 0)), Op.END,
                      Op.DROP), 0, "type mismatch: br_table targets have different arities",
                 id="br_table-arity"),
    pytest.param(body((Op.BLOCK, F32), (Op.BLOCK, I32), i32(1), i32(0),
                      (Op.BR_TABLE, ((1,), 0)), Op.END, Op.DROP, f32(), Op.END, Op.DROP), 0,
                 "type mismatch", id="br_table-target-types"),
    pytest.param(body(i64(0), Op.RETURN), 1, "type mismatch: expected i32, got i64",
                 id="return-type"),
    pytest.param(body((Op.CALL, 7)), 0, "unknown function 7", id="call-unknown-function"),
    pytest.param(body(f32(), (Op.CALL, 0), Op.DROP), 0, "type mismatch: expected i32, got f32",
                 id="call-argument"),
    pytest.param(body(i32(0), (Op.CALL_INDIRECT, (0, 2))), 0, "unknown table 2",
                 id="call_indirect-unknown-table"),
    pytest.param(body(i32(0), (Op.CALL_INDIRECT, (0, 1))), 0, "type mismatch",
                 id="call_indirect-externref-table"),
    pytest.param(body(i32(0), (Op.CALL_INDIRECT, (8, 0))), 0, "unknown type 8",
                 id="call_indirect-unknown-type"),
    pytest.param(body(Op.DROP), 0, "type mismatch", id="drop-empty"),
    pytest.param(body(null(FUNCREF), null(FUNCREF), i32(1), Op.SELECT, Op.DROP), 0,
                 "type mismatch", id="select-untyped-reference"),
    pytest.param(body(i32(0), i64(0), i32(1), Op.SELECT, Op.DROP), 0,
                 "type mismatch", id="select-operands-differ"),
    pytest.param(body(i32(0), i32(0), i32(1), (Op.SELECT_T, (I32, I32)),
                      Op.DROP), 0, "invalid result arity", id="select_t-two-types"),
    pytest.param(body(i32(0), i32(0), i32(1), (Op.SELECT_T, ()), Op.DROP), 0,
                 "invalid result arity", id="select_t-no-type"),
    pytest.param(body(i32(0), f32(), i32(1), (Op.SELECT_T, (I32,)), Op.DROP),
                 0, "type mismatch: expected i32, got f32", id="select_t-operand"),
    pytest.param(body((Op.LOCAL_GET, 1), Op.DROP), 1, "unknown local 1", id="local.get-unknown"),
    pytest.param(body(i32(0), (Op.LOCAL_SET, 3)), 0, "unknown local 3", id="local.set-unknown"),
    pytest.param(body(f64(), (Op.LOCAL_SET, 0), i32(0)), 1,
                 "type mismatch: expected i32, got f64", id="local.set-type"),
    pytest.param(body(i64(0), (Op.LOCAL_TEE, 0)), 1, "type mismatch: expected i32, got i64",
                 id="local.tee-type"),
    pytest.param(body((Op.GLOBAL_GET, 4), Op.DROP), 0, "unknown global 4", id="global.get-unknown"),
    pytest.param(body(i32(0), (Op.GLOBAL_SET, 4)), 0, "unknown global 4", id="global.set-unknown"),
    pytest.param(body(i32(0), (Op.GLOBAL_SET, 0)), 0, "global is immutable",
                 id="global.set-immutable-import"),
    pytest.param(body(i32(0), (Op.GLOBAL_SET, 3)), 0, "global is immutable",
                 id="global.set-immutable-defined"),
    pytest.param(body(i32(0), (Op.GLOBAL_SET, 2)), 0, "type mismatch: expected f32, got i32",
                 id="global.set-type"),
    pytest.param(body(i32(0), (Op.I32_LOAD, (3, 0)), Op.DROP), 0,
                 "alignment must not be larger than natural", id="load-alignment"),
    pytest.param(body(i32(0), i64(0), (Op.I64_STORE8, (1, 0))), 0,
                 "alignment must not be larger than natural", id="store8-alignment"),
    pytest.param(body(i64(0), (Op.I64_LOAD, (3, 0)), Op.DROP), 0,
                 "type mismatch: expected i32, got i64", id="load-address-type"),
    pytest.param(body(i32(0), f32(), (Op.F64_STORE, (3, 0))), 0,
                 "type mismatch: expected f64, got f32", id="store-value-type"),
    pytest.param(body(i32(0), i32(0), i32(0), (Op.MEMORY_INIT, 1)), 0,
                 "unknown data segment 1", id="memory.init-unknown-data"),
    pytest.param(body((Op.DATA_DROP, 1)), 0, "unknown data segment 1", id="data.drop-unknown-data"),
    pytest.param(body((Op.TABLE_GET, 2)), 0, "unknown table 2", id="table.get-unknown"),
    pytest.param(body(i32(0), null(FUNCREF), (Op.TABLE_SET, 1)), 0,
                 "type mismatch: expected externref, got funcref", id="table.set-type"),
    pytest.param(body(null(EXTERNREF), i32(1), (Op.TABLE_GROW, 0), Op.DROP), 0,
                 "type mismatch: expected funcref, got externref", id="table.grow-type"),
    pytest.param(body(i32(0), null(FUNCREF), i32(1), (Op.TABLE_FILL, 1)), 0,
                 "type mismatch: expected externref, got funcref", id="table.fill-type"),
    pytest.param(body((Op.TABLE_SIZE, 5), Op.DROP), 0, "unknown table 5", id="table.size-unknown"),
    pytest.param(body(i32(0), i32(0), i32(0), (Op.TABLE_COPY, (0, 1))), 0,
                 "type mismatch", id="table.copy-types-differ"),
    pytest.param(body(i32(0), i32(0), i32(0), (Op.TABLE_INIT, (1, 0))), 0,
                 "type mismatch", id="table.init-elem-type"),
    pytest.param(body(i32(0), i32(0), i32(0), (Op.TABLE_INIT, (2, 0))), 0,
                 "unknown elem segment 2", id="table.init-unknown-elem"),
    pytest.param(body((Op.ELEM_DROP, 2)), 0, "unknown elem segment 2", id="elem.drop-unknown"),
    pytest.param(body(i32(0), Op.REF_IS_NULL, Op.DROP), 0, "type mismatch", id="ref.is_null-number"),
    pytest.param(body((Op.REF_FUNC, 1), Op.DROP), 0, "undeclared function reference",
                 id="ref.func-undeclared"),
    pytest.param(body((Op.REF_FUNC, 9), Op.DROP), 0, "unknown function 9", id="ref.func-unknown"),
    pytest.param(body((Op.BLOCK, None), i32(0), i64(0), (Op.I32_STORE, (2, 0)), Op.END), 0,
                 "type mismatch: expected i32, got i64", id="store-in-block"),
    pytest.param(body(Op.UNREACHABLE, i64(0), Op.I32_ADD, Op.DROP), 0,
                 "type mismatch: expected i32, got i64", id="unreachable-still-typed"),
    pytest.param(body(Op.UNREACHABLE, f32()), 0, "type mismatch", id="unreachable-leftover"),
    pytest.param(body(Op.RETURN, Op.REF_IS_NULL, Op.I64_EQZ, Op.DROP), 0,
                 "type mismatch: expected i64, got i32",
                 id="unreachable-result-types-known"),
    pytest.param(body(Op.UNREACHABLE, (Op.BLOCK, None), Op.DROP, Op.END), 0, "type mismatch",
                 id="new-block-in-dead-code-not-polymorphic"),
    pytest.param(instrs([(Op.BLOCK, None), Op.END]), 0, "unclosed block", id="body-ends-inside-block"),
    pytest.param(body(Op.END, Op.NOP), 0, "end of the function", id="end-before-body-end"),
    pytest.param(instrs([Op.NOP]), 0, "function body must end with end", id="no-final-end"),
]


@pytest.mark.parametrize(("code", "type_index", "reason"), BAD_BODIES)
def test_invalid_body(code: tuple[Instr, ...], type_index: int, reason: str) -> None:
    err = rejected(func_module(code, type_index))
    assert err.reason.startswith(reason)
    assert err.section == "code"
    assert err.func == FIRST_FUNC


def test_memory_instructions_need_a_memory() -> None:
    no_memory = dataclasses.replace(RICH, mems=())
    err = rejected(func_module(body(i32(0), (Op.I32_LOAD, (2, 0)), Op.DROP), base=no_memory))
    assert err.reason == "unknown memory 0"
    err = rejected(func_module(body((Op.MEMORY_SIZE, 0), Op.DROP), base=no_memory))
    assert err.reason == "unknown memory 0"


def test_data_indices_count_up_to_the_data_count() -> None:
    code = body((Op.DATA_DROP, 0))
    assert validate(func_module(code))
    err = rejected(func_module(code, data_count=0, datas=()))
    assert err.reason == "unknown data segment 0"


def test_ref_func_is_declared_by_exports_elements_and_globals() -> None:
    code = body((Op.REF_FUNC, 1), Op.DROP)  # the defined function itself
    by_export = (Export("me", ExternKind.FUNC, 1),)
    by_elem = (Elem(FUNCREF, (expr((Op.REF_FUNC, 1)),), SegmentMode.DECLARATIVE),)
    by_global = (Global(GlobalType(FUNCREF, False), expr((Op.REF_FUNC, 1))),)
    assert validate(func_module(code, exports=by_export))
    assert validate(func_module(code, elems=by_elem))
    assert validate(func_module(code, globals=by_global))


# -- module-level rules ----------------------------------------------------------------------------

BAD_MODULES: list[Any] = [
    pytest.param({"funcs": (Func(7, (), body()),)}, "function", "unknown type 7", id="func-unknown-type"),
    pytest.param({"imports": (Import("m", "f", ExternKind.FUNC, 5),)}, "import", "unknown type 5",
                 id="import-unknown-type"),
    pytest.param({"mems": (MemType(Limits(1)), MemType(Limits(1)))}, "memory", "multiple memories",
                 id="two-memories"),
    pytest.param({"imports": (Import("m", "mem", ExternKind.MEMORY, MemType(Limits(1))),)}, "memory",
                 "multiple memories", id="imported-and-defined-memory"),
    pytest.param({"mems": (MemType(Limits(65537)),)}, "memory",
                 "memory size must be at most 65536 pages (4GiB)", id="memory-min-too-big"),
    pytest.param({"mems": (MemType(Limits(0, 65537)),)}, "memory",
                 "memory size must be at most 65536 pages (4GiB)", id="memory-max-too-big"),
    pytest.param({"mems": (MemType(Limits(2, 1)),)}, "memory",
                 "size minimum must not be greater than maximum",
                 id="memory-min-over-max"),
    pytest.param({"tables": (TableType(FUNCREF, Limits(3, 2)),)}, "table",
                 "size minimum must not be greater than maximum", id="table-min-over-max"),
    pytest.param({"tables": (TableType(FUNCREF, Limits(2**32)),)}, "table", "table size must be at most",
                 id="table-size-over-u32"),
    pytest.param({"imports": (Import("m", "t", ExternKind.TABLE, TableType(FUNCREF, Limits(3, 2))),)},
                 "import", "size minimum must not be greater than maximum", id="imported-table-limits"),
    pytest.param({"globals": (Global(GlobalType(I32, False), expr(i32(1), i32(2), Op.I32_ADD)),)},
                 "global", "constant expression required", id="global-init-not-constant"),
    pytest.param({"globals": (Global(GlobalType(I64, False), expr((Op.GLOBAL_GET, 1))),)},
                 "global", "constant expression required", id="global-init-reads-mutable"),
    pytest.param({"globals": (Global(GlobalType(I32, False), const(I32)),
                              Global(GlobalType(I32, False), expr((Op.GLOBAL_GET, 2))))},
                 "global", "unknown global 2", id="global-init-reads-defined-global"),
    pytest.param({"globals": (Global(GlobalType(I32, False), const(I64)),)}, "global", "type mismatch",
                 id="global-init-type"),
    pytest.param({"globals": (Global(GlobalType(I32, False), expr()),)}, "global",
                 "type mismatch", id="global-init-empty"),
    pytest.param({"globals": (Global(GlobalType(I32, False), expr(i32(1), i32(2))),)},
                 "global", "type mismatch", id="global-init-two-values"),
    pytest.param({"globals": (Global(GlobalType(FUNCREF, False), expr((Op.REF_FUNC, 3))),)},
                 "global", "unknown function 3", id="global-init-unknown-function"),
    pytest.param({"exports": (Export("a", ExternKind.FUNC, 0), Export("a", ExternKind.GLOBAL, 0))}, "export",
                 "duplicate export name", id="duplicate-export"),
    pytest.param({"exports": (Export("a", ExternKind.FUNC, 2),)}, "export", "unknown function 2",
                 id="export-unknown-function"),
    pytest.param({"exports": (Export("a", ExternKind.TABLE, 2),)}, "export", "unknown table 2",
                 id="export-unknown-table"),
    pytest.param({"exports": (Export("a", ExternKind.MEMORY, 1),)}, "export", "unknown memory 1",
                 id="export-unknown-memory"),
    pytest.param({"exports": (Export("a", ExternKind.GLOBAL, 4),)}, "export", "unknown global 4",
                 id="export-unknown-global"),
    pytest.param({"start": 2}, "start", "unknown function 2", id="start-unknown"),
    pytest.param({"start": 0}, "start", "start function", id="start-with-params"),
    pytest.param({"elems": (Elem(FUNCREF, (), SegmentMode.ACTIVE, 2, const(I32)),)}, "element",
                 "unknown table 2", id="elem-unknown-table"),
    pytest.param({"elems": (Elem(FUNCREF, (), SegmentMode.ACTIVE, 1, const(I32)),)}, "element",
                 "type mismatch", id="elem-table-type"),
    pytest.param({"elems": (Elem(FUNCREF, (), SegmentMode.ACTIVE, 0, const(I64)),)}, "element",
                 "type mismatch", id="elem-offset-type"),
    pytest.param({"elems": (Elem(FUNCREF, (const(EXTERNREF),), SegmentMode.PASSIVE),)}, "element",
                 "type mismatch", id="elem-init-type"),
    pytest.param({"elems": (Elem(FUNCREF, (expr((Op.REF_FUNC, 5)),), SegmentMode.PASSIVE),)}, "element",
                 "unknown function 5", id="elem-init-unknown-function"),
    pytest.param({"elems": (Elem(FUNCREF, (), SegmentMode.ACTIVE, 0, expr((Op.GLOBAL_GET, 3))),)}, "element",
                 "unknown global 3", id="elem-offset-reads-defined-global"),
    pytest.param({"datas": (Data(b"", SegmentMode.ACTIVE, 0, const(I64)),)}, "data", "type mismatch",
                 id="data-offset-type"),
    pytest.param({"datas": (Data(b"", SegmentMode.ACTIVE, 0, expr(i32(0), i32(0), Op.I32_MUL)),)},
                 "data", "constant expression required", id="data-offset-not-constant"),
    pytest.param({"datas": (Data(b"", SegmentMode.ACTIVE, 1, const(I32)),)}, "data", "unknown memory 1",
                 id="data-unknown-memory"),
    pytest.param({"mems": (), "datas": (Data(b"", SegmentMode.ACTIVE, 0, const(I32)),)}, "data",
                 "unknown memory 0", id="data-without-memory"),
]


@pytest.mark.parametrize(("changes", "section", "reason"), BAD_MODULES)
def test_invalid_module(changes: dict[str, Any], section: str, reason: str) -> None:
    err = rejected(dataclasses.replace(RICH, **changes))
    assert err.section == section
    assert err.reason.startswith(reason)


def test_valid_module_level_definitions() -> None:
    module = dataclasses.replace(
        RICH,
        funcs=(Func(0, (), body()),),
        start=1,
        exports=(Export("f", ExternKind.FUNC, 1), Export("t", ExternKind.TABLE, 1),
                 Export("m", ExternKind.MEMORY, 0), Export("g", ExternKind.GLOBAL, 3)),
        elems=(*RICH.elems, Elem(FUNCREF, (), SegmentMode.ACTIVE, 0, expr((Op.GLOBAL_GET, 0)))),
        datas=(*RICH.datas, Data(b"x", SegmentMode.ACTIVE, 0, expr((Op.GLOBAL_GET, 0)))),
        data_count=2,
    )
    assert validate(module) == (CodeInfo((0,), 0),)


def test_message_names_section_function_and_offset() -> None:
    code = body(i32(1), f64(), Op.I32_ADD, Op.DROP)  # i32.add at 0x20 + 2 * 2
    err = rejected(func_module(code))
    assert (err.section, err.func, err.offset) == ("code", 1, 0x24)
    assert str(err) == "code section, func 1, offset 0x24: type mismatch: expected i32, got f64"


def test_function_index_counts_imports_and_earlier_functions() -> None:
    good = Func(0, (), body())
    bad = Func(0, (), body(Op.DROP))
    err = rejected(dataclasses.replace(RICH, funcs=(good, good, bad)))
    assert err.func == 3
    assert err.offset == BODY_START


def test_constant_expression_error_has_offset() -> None:
    init = instrs([i32(1), i32(2), Op.I32_ADD, Op.END], start=0x40)
    err = rejected(dataclasses.replace(RICH, globals=(Global(GlobalType(I32, False), init),)))
    assert str(err) == "global section, offset 0x44: constant expression required"


# -- valid bodies: polymorphism, multi-value, every opcode -------------------------------------------

GOOD_BODIES: list[Any] = [
    pytest.param(body(Op.UNREACHABLE, Op.I32_ADD, Op.DROP), 0, id="unreachable-pops-anything"),
    pytest.param(body(Op.UNREACHABLE), 1, id="unreachable-gives-result"),
    pytest.param(body(Op.UNREACHABLE, Op.SELECT, Op.DROP), 0, id="select-unknown-operands"),
    pytest.param(body(Op.UNREACHABLE, i64(0), i32(1), Op.SELECT, Op.I64_EQZ), 1,
                 id="select-meets-known"),
    pytest.param(body(Op.UNREACHABLE, Op.REF_IS_NULL), 1, id="ref.is_null-unknown"),
    pytest.param(body((Op.BLOCK, I32), i32(1), (Op.BR, 0), Op.I32_ADD, Op.END), 1,
                 id="dead-tail-in-block"),
    pytest.param(body(i32(1), Op.RETURN, (Op.BR_IF, 0), i32(0), (Op.BR_TABLE, ((0, 0), 0))), 1,
                 id="branches-in-dead-code"),
    pytest.param(body((Op.BLOCK, F64), Op.UNREACHABLE, (Op.BR_TABLE, ((0,), 0)), Op.END, Op.DROP), 0,
                 id="br_table-in-dead-code"),
    pytest.param(body((Op.LOOP, None), (Op.BR, 0), Op.END), 0, id="loop-branch-carries-params"),
    pytest.param(body(i32(1), i32(2), (Op.BLOCK, 2), Op.I32_ADD, Op.END), 1,
                 id="block-with-params"),
    pytest.param(body(i32(1), (Op.LOOP, 1), i32(1), Op.I32_SUB, (Op.LOCAL_TEE, 0),
                      (Op.LOCAL_GET, 0), (Op.BR_IF, 0), Op.END), 1, id="loop-with-params"),
    pytest.param(body(i32(1), i32(0), (Op.IF, 4), Op.DROP, i32(2), i32(3),
                      Op.ELSE, i32(4), Op.END, Op.I32_ADD), 1, id="if-else-with-params"),
    pytest.param(body(i32(1), i32(0), (Op.IF, 1), Op.END), 1, id="if-without-else-same-types"),
    pytest.param(body((Op.BLOCK, 3), i32(1), i64(2), Op.END, Op.DROP), 1,
                 id="block-with-two-results"),
    pytest.param(body(i32(0), (Op.CALL, 0), i32(2), i32(3), (Op.SELECT_T, (I32,))),
                 1, id="call-and-typed-select"),
    pytest.param(body(null(EXTERNREF), null(EXTERNREF), i32(1),
                      (Op.SELECT_T, (EXTERNREF,)), Op.REF_IS_NULL), 1, id="typed-select-references"),
    pytest.param(body(i32(0), i32(0), i32(0), (Op.CALL_INDIRECT, (2, 0))), 1,
                 id="call_indirect"),
    pytest.param(body((Op.REF_FUNC, 0), Op.DROP), 0, id="ref.func-declared-in-elem"),
]


@pytest.mark.parametrize(("code", "type_index"), GOOD_BODIES)
def test_valid_body(code: tuple[Instr, ...], type_index: int) -> None:
    (result,) = validate(func_module(code, type_index))
    assert len(result.heights) == len(code)


def test_function_with_two_results() -> None:
    code = body((Op.BLOCK, 3), i32(1), i64(2), Op.END)
    assert info(code, type_index=3).heights == (0, 0, 1, 2, 2)


def _immediate(imm: Imm) -> Any:
    """A valid immediate of each kind in the RICH module."""
    return {
        Imm.NONE: None, Imm.MEMORY_COPY: None, Imm.MEMIDX: 0, Imm.MEMORY_INIT: 0, Imm.DATA: 0, Imm.ELEM: 0,
        Imm.TABLE: 0, Imm.TABLE_INIT: (0, 0), Imm.TABLE_COPY: (0, 0), Imm.I32: 0, Imm.I64: 0, Imm.F32: 0,
        Imm.F64: 0,
    }[imm]


PUSH_ONE: dict[ValType, Step] = {
    I32: i32(0), I64: i64(0), F32: f32(), F64: f64(),
}


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name) for row in OPS.values()
                                 if row.pops is not None and row.pushes is not None
                                 and row.op != Op.UNREACHABLE])
def test_every_fixed_signature_row_types_by_the_table(row: Any) -> None:
    """Push the row's operands, run it, drop its results: valid, with the heights that implies."""
    imm = (row.align, 0) if row.imm is Imm.MEMARG else _immediate(row.imm)
    ops: list[Step] = [PUSH_ONE[t] for t in row.pops]
    ops.append((row.op, imm))
    ops.extend([Op.DROP] * len(row.pushes))
    result = info(body(*ops))
    n, m = len(row.pops), len(row.pushes)
    assert result.heights == (*range(n + 1), *range(m, 0, -1), 0)
    assert result.max_height == max(n, m)
    # and one operand of the wrong type is refused
    if n:
        wrong = F64 if row.pops[-1] is not F64 else I32
        operands = [PUSH_ONE[t] for t in row.pops[:-1]]
        err = rejected(func_module(body(*operands, PUSH_ONE[wrong], (row.op, imm))))
        assert err.reason.startswith("type mismatch")


# -- CodeInfo heights ------------------------------------------------------------------------------


def test_heights_straight_line() -> None:
    code = body((Op.LOCAL_GET, 0), i32(2), Op.I32_MUL, i32(1), Op.I32_ADD)
    assert info(code, type_index=1) == CodeInfo((0, 1, 2, 1, 2, 1), 2)


def test_heights_block_with_result() -> None:
    code = body(i32(7), (Op.BLOCK, I32), i32(1), Op.END, Op.I32_ADD)
    #            0               1              1                 2       2          1 (end)
    assert info(code, type_index=1) == CodeInfo((0, 1, 1, 2, 2, 1), 2)


def test_heights_branch_out_of_nested_blocks() -> None:
    code = body(
        (Op.BLOCK, I32),  # 0
        i32(5),  # 0
        (Op.BLOCK, None),  # 1
        i32(9),  # 1
        i32(3),  # 2
        (Op.BR, 1),  # 3: carries the 3 to the outer block, dropping 5 and 9
        Op.DROP,  # dead
        Op.END,  # dead: nothing falls through
        Op.END,  # 1: the spec counts code after a block as reachable (here with the 5)
    )  # final end: 1
    assert info(code, type_index=1) == CodeInfo((0, 0, 1, 1, 2, 3, -1, -1, 1, 1), 3)


def test_heights_unreachable_tail() -> None:
    code = body(i32(1), Op.RETURN, i32(2), Op.I32_ADD, Op.DROP)
    assert info(code, type_index=1) == CodeInfo((0, 1, -1, -1, -1, -1), 1)


def test_heights_if_else_with_dead_then_branch() -> None:
    code = body((Op.LOCAL_GET, 0), (Op.IF, I32), Op.UNREACHABLE, Op.ELSE, i32(4), Op.END)
    assert info(code, type_index=1) == CodeInfo((0, 1, 0, -1, 0, 1, 1), 1)


def test_heights_blocks_opened_in_dead_code_stay_dead() -> None:
    code = body(Op.UNREACHABLE, (Op.BLOCK, None), i32(1), Op.DROP, Op.END, Op.NOP)
    assert info(code).heights == (0, -1, -1, -1, -1, -1, -1)


def test_heights_resume_after_branched_to_block() -> None:
    code = body((Op.BLOCK, None), (Op.BR, 0), Op.END, i32(1), Op.DROP)
    assert info(code).heights == (0, 0, -1, 0, 1, 0)


def test_heights_count_from_function_start_not_locals() -> None:
    code = body(i32(1), (Op.LOCAL_SET, 1), (Op.LOCAL_GET, 1))
    assert info(code, type_index=1, locals_=(I32, I64, F32)).heights == (0, 1, 0, 1)


# -- scale -----------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_ten_thousand_nested_blocks_validate_without_recursion() -> None:
    depth = 10_000
    ops: list[Step] = [(Op.BLOCK, I32)] * depth + [i32(1)] + [Op.END] * depth
    result = info(body(*ops), type_index=1)
    assert result.heights == (0,) * (depth + 1) + (1,) * (depth + 1)
    assert result.max_height == 1


@pytest.mark.timeout(30)
def test_branch_out_of_ten_thousand_nested_blocks() -> None:
    depth = 10_000
    ops: list[Step] = [(Op.LOOP, None)] * depth + [(Op.BR, depth)] + [Op.END] * depth
    result = info(body(*ops))
    assert result.heights[depth:depth + 2] == (0, -1)
    assert result.heights[depth + 2:] == (0,) * depth  # each enclosing loop's end counts as reachable


def test_large_br_table_checks_each_distinct_target() -> None:
    targets = tuple(n % 3 for n in range(100_000))
    ops: list[Step] = [(Op.BLOCK, None)] * 3 + [i32(0), (Op.BR_TABLE, (targets, 0))] + [Op.END] * 3
    assert info(body(*ops)).heights[:5] == (0, 0, 0, 0, 1)
    ops[4] = (Op.BR_TABLE, ((*targets, 4), 0))
    assert rejected(func_module(body(*ops))).reason == "unknown label 4"
