"""The float policy ``reject``: find the first float a decoded module computes with.

What counts as a float, and why it is enough. A float value can only come
from a float type declared somewhere or from an instruction that makes one,
so the scan refuses:

- float types where values live: parameters and results of imported and
  defined functions, declared locals, globals (imported or defined);
- every instruction whose operands or results include f32 or f64, read from
  the opcode table's ``pops``/``pushes`` (arithmetic, comparisons,
  conversions from and to floats, reinterpretations, saturating truncations,
  float constants, loads and stores);
- the instructions typed by an immediate: ``block``/``loop``/``if`` with a
  float in their block type, a typed ``select`` of a float, ``call`` of a
  function and ``call_indirect`` through a type with a float in its signature.

With none of these present, no f32 or f64 value can exist at run time: the
polymorphic instructions (``select``, ``drop``, ``local.*``, ``global.*``)
only move values some other instruction made. A type in the type section
that no function, block or call uses is not refused: it runs nothing.

The scan visits imports, then globals, then each defined function in index
order (its signature, its locals, its body), and raises
:class:`~wasmpool.wire.errors.FloatsRejected` naming the first offence.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from wasmpool.wasm.module import Instr, Module
from wasmpool.wasm.opcodes import OPS, Opcode
from wasmpool.wasm.types import ExternKind, FuncType, GlobalType, ValType
from wasmpool.wire.errors import FloatsRejected
from wasmpool.worker.deploy_checks import function_label

FLOATS = frozenset({ValType.F32, ValType.F64})

FLOAT_OPCODES: frozenset[Opcode] = frozenset(
    info.op for info in OPS.values()
    if FLOATS.intersection(info.pops or ()) or FLOATS.intersection(info.pushes or ()))
"""Every instruction the opcode table types with an f32 or f64 operand or result."""

BLOCKS = frozenset({Opcode.BLOCK, Opcode.LOOP, Opcode.IF})
TYPED_BY_INDEX = frozenset({*BLOCKS, Opcode.CALL, Opcode.CALL_INDIRECT})
OPCODE, IMMEDIATE = itemgetter(0), itemgetter(1)  # an Instr's fields, read without a Python-level call


def reject_floats(module: Module) -> None:
    """Raise FloatsRejected for the first float type or float instruction of ``module``."""
    types = module.types
    for index, imp in enumerate(module.imports):
        where = f"import {index} {imp.module}.{imp.name}"
        if imp.kind == ExternKind.FUNC and isinstance(imp.desc, int):
            _signature(types[imp.desc], where)
        elif isinstance(imp.desc, GlobalType) and imp.desc.valtype in FLOATS:
            raise _refusal(where, f"global {imp.desc.valtype}")
    imported_globals = len(module.imported(ExternKind.GLOBAL))
    for position, glob in enumerate(module.globals):
        if glob.type.valtype in FLOATS:
            raise _refusal(f"global {imported_globals + position}", f"global {glob.type.valtype}")
    func_types = module.func_types
    typed = TYPED_BY_INDEX if any(map(_has_float, types)) else frozenset()
    first = module.num_imported_funcs
    for position, func in enumerate(module.funcs):
        where = function_label(module, first + position)
        _signature(types[func.type_index], where)
        for local in func.locals:
            if local in FLOATS:
                raise _refusal(where, f"local {local}")
        if _surely_float_free(func.body, typed):
            continue
        instr = first_float_instruction(func.body, types, func_types)
        if instr is not None:
            raise _refusal(where, describe(instr, types, func_types), instr.offset)


def _surely_float_free(body: tuple[Instr, ...], typed: frozenset[Opcode]) -> bool:
    """True when a look at the body's sets of opcodes and immediates (at C speed) rules floats out.

    ``typed`` are the opcodes whose type index may name a float signature
    (none when the module declares no float type at all).
    """
    ops = set(map(OPCODE, body))
    if not ops.isdisjoint(FLOAT_OPCODES) or Opcode.SELECT_T in ops or not ops.isdisjoint(typed):
        return False
    return not (ops & BLOCKS and not FLOATS.isdisjoint(set(map(IMMEDIATE, body))))


def first_float_instruction(body: Iterable[Instr], types: tuple[FuncType, ...],
                            func_types: tuple[FuncType, ...]) -> Instr | None:
    """The first instruction of ``body`` with a float operand or result, or None."""
    float_ops, blocks = FLOAT_OPCODES, BLOCKS
    for instr in body:
        op = instr.op
        if op in float_ops:
            return instr
        if op in blocks:
            if _float_blocktype(instr.imm, types):
                return instr
        elif op is Opcode.SELECT_T:
            if FLOATS.intersection(instr.imm):
                return instr
        elif op is Opcode.CALL:
            if _has_float(func_types[instr.imm]):
                return instr
        elif op is Opcode.CALL_INDIRECT and _has_float(types[instr.imm[0]]):
            return instr
    return None


def describe(instr: Instr, types: tuple[FuncType, ...], func_types: tuple[FuncType, ...]) -> str:
    """An instruction as people read it: ``f64.add``, ``block (result f32)``, ``call 4 (f64) -> ()``."""
    name = OPS[instr.op].name
    if instr.op in BLOCKS:
        imm = instr.imm
        return f"{name} {types[imm]}" if isinstance(imm, int) else f"{name} (result {imm})"
    if instr.op is Opcode.SELECT_T:
        return f"{name} (result {' '.join(instr.imm)})"
    if instr.op is Opcode.CALL:
        return f"{name} {instr.imm} {func_types[instr.imm]}"
    if instr.op is Opcode.CALL_INDIRECT:
        return f"{name} {types[instr.imm[0]]}"
    return name


def _float_blocktype(imm: object, types: tuple[FuncType, ...]) -> bool:
    if isinstance(imm, ValType):
        return imm in FLOATS
    return isinstance(imm, int) and _has_float(types[imm])


def _has_float(ftype: FuncType) -> bool:
    return bool(FLOATS.intersection(ftype.params) or FLOATS.intersection(ftype.results))


def _signature(ftype: FuncType, where: str) -> None:
    for kind, valtypes in (("param", ftype.params), ("result", ftype.results)):
        for valtype in valtypes:
            if valtype in FLOATS:
                raise _refusal(where, f"{kind} {valtype}")


def _refusal(where: str, what: str, offset: int = -1) -> FloatsRejected:
    at = f" at byte {offset}" if offset >= 0 else ""
    return FloatsRejected(f"invalid module: {where}: {what}{at}: floats are refused (float policy reject)",
                          where, what, offset)
