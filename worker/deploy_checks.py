"""The deploy limits checked on a decoded module: its shape, its imports, its exports.

Run at deploy (by ``wasmpool.worker.validate.module_error``), after the
engine decoded and validated the module: each function body's opcodes are
counted at C speed, and a body is walked (for its nesting depth or its
``br_table`` sizes) only when those counts allow a breach. The
first rule broken raises :class:`~wasmpool.wire.errors.ModuleLimitExceeded`
(a figure above a limit) or :class:`~wasmpool.wire.errors.DeployRefused` (an
import outside the host ABI, no ``memory`` export), naming the rule, the
figure and where in the module. The checks run in :data:`CHECKS` order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from operator import itemgetter

from wasmpool import wasm
from wasmpool.wasm.module import Func
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import ExternKind
from wasmpool.wire.deploy_policy import DeployLimits
from wasmpool.wire.errors import DeployRefused, ModuleLimitExceeded
from wasmpool.worker.host import ENV, check_imports

MEMORY_EXPORT = "memory"
"""The export the host ABI reads and writes through (docs/abi.md)."""

OPENS = frozenset({Opcode.BLOCK, Opcode.LOOP, Opcode.IF})
OPCODE = itemgetter(0)  # an Instr's opcode, read without a Python-level call


def function_label(module: wasm.Module, index: int) -> str:
    """``function 7 "parse"``: an index in the function index space, and its name if the module has one."""
    name = module.func_name(index)
    return f"function {index}" if name is None else f'function {index} "{name}"'


def over(limit: str, where: str, what: str, value: int, maximum: int) -> ModuleLimitExceeded:
    """The refusal of a figure above a limit, with a reason for people."""
    return ModuleLimitExceeded(f"invalid module: {where}: {value} {what}, above the deploy limit "
                               f"{limit}={maximum}", limit, where, value, maximum)


def check_size(size: int, limits: DeployLimits) -> None:
    """The module's size in bytes (checked before decoding: the cheapest refusal)."""
    if size > limits.module_bytes:
        raise over("module_bytes", "module", "bytes", size, limits.module_bytes)


def check_module(module: wasm.Module, limits: DeployLimits) -> None:
    """Raise the refusal of the first deploy limit ``module`` breaks (:data:`CHECKS`, in order)."""
    for check in CHECKS:
        check(module, limits)


def _functions(module: wasm.Module, limits: DeployLimits) -> None:
    if len(module.funcs) > limits.functions:
        raise over("functions", "function section", "functions defined", len(module.funcs), limits.functions)


def _params(module: wasm.Module, limits: DeployLimits) -> None:
    first = module.num_imported_funcs
    total = 0
    for position, func in enumerate(module.funcs):
        count = len(module.types[func.type_index].params)
        if count > limits.function_params:
            raise over("function_params", function_label(module, first + position), "parameters", count,
                       limits.function_params)
        total += count
    if total > limits.total_params:
        raise over("total_params", "function section", "parameters in all functions", total,
                   limits.total_params)


def _imports(module: wasm.Module, limits: DeployLimits) -> None:
    if len(module.imports) > limits.imports:
        raise over("imports", "import section", "imports", len(module.imports), limits.imports)
    for index, imp in enumerate(module.imports):
        where = f"import {index} {imp.module}.{imp.name}"
        if imp.module != ENV or imp.kind != ExternKind.FUNC:
            raise DeployRefused(f"invalid module: {where}: only functions of the host ABI (module {ENV!r}) "
                                f"may be imported", "host_abi", where)
        try:  # the worker's own check, on this one import
            check_imports(dataclasses.replace(module, imports=(imp,)))
        except wasm.LinkError as exc:
            raise DeployRefused(f"invalid module: {where}: {exc}", "host_abi", where) from None


def _exports(module: wasm.Module, limits: DeployLimits) -> None:
    if len(module.exports) > limits.exports:
        raise over("exports", "export section", "exports", len(module.exports), limits.exports)
    if limits.memory_export and not any(e.name == MEMORY_EXPORT and e.kind == ExternKind.MEMORY
                                        for e in module.exports):
        raise DeployRefused(f"invalid module: export section: no memory exported as {MEMORY_EXPORT!r} "
                            "(the host ABI needs it)", "memory_export", "export section")


def _memories(module: wasm.Module, limits: DeployLimits) -> None:
    for index, mem in enumerate(module.mem_types):
        _sized("memory_pages", f"memory {index}", "pages", mem.limits, limits.memory_pages)


def _tables(module: wasm.Module, limits: DeployLimits) -> None:
    for index, table in enumerate(module.table_types):
        _sized("table_elements", f"table {index}", "elements", table.limits, limits.table_elements)


def _sized(limit: str, where: str, unit: str, declared: wasm.Limits, maximum: int) -> None:
    """A memory's or table's initial size, and its declared maximum if any, within ``maximum``."""
    if declared.min > maximum:
        raise over(limit, where, f"{unit} initially", declared.min, maximum)
    if declared.max is not None and declared.max > maximum:
        raise over(limit, where, f"{unit} declared as its maximum", declared.max, maximum)


def _bodies(module: wasm.Module, limits: DeployLimits) -> None:
    """Each function's declared locals, then one pass over its body: nesting depth and br_table sizes."""
    first = module.num_imported_funcs
    for position, func in enumerate(module.funcs):
        if len(func.locals) > limits.function_locals:
            raise over("function_locals", function_label(module, first + position), "locals",
                       len(func.locals), limits.function_locals)
        problem = _body_problem(func, limits)
        if problem is not None:
            limit, what, value, maximum = problem
            raise over(limit, function_label(module, first + position), what, value, maximum)


def _body_problem(func: Func, limits: DeployLimits) -> tuple[str, str, int, int] | None:
    """(limit, what, figure, maximum) for the first br_table or nesting limit the body breaks, or None.

    The opcodes are counted first (at C speed); the body is walked in order
    only when the count allows a breach: more blocks than the depth limit, or
    a br_table at all.
    """
    counts = Counter(map(OPCODE, func.body))
    if counts[Opcode.BR_TABLE]:
        for instr in func.body:
            if instr.op is Opcode.BR_TABLE and len(instr.imm[0]) > limits.br_table_size:
                return ("br_table_size", f"br_table targets (at byte {instr.offset})", len(instr.imm[0]),
                        limits.br_table_size)
    if sum(counts[op] for op in OPENS) > limits.nesting_depth:
        deepest = _deepest(func)
        if deepest > limits.nesting_depth:
            return "nesting_depth", "blocks open at once", deepest, limits.nesting_depth
    return None


def _deepest(func: Func) -> int:
    """The most blocks, loops and ifs open at once in the body."""
    depth = deepest = 0
    opens, end = OPENS, Opcode.END
    for instr in func.body:
        if instr.op in opens:
            depth += 1
            deepest = max(deepest, depth)
        elif instr.op is end:
            depth -= 1
    return deepest


CHECKS: tuple[Callable[[wasm.Module, DeployLimits], None], ...] = (
    _functions, _params, _imports, _exports, _memories, _tables, _bodies,
)
"""The checks on a decoded module, cheapest first; the module's size is checked before decoding."""
