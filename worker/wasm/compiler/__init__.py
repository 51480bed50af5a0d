"""The register compiler: each wasm function becomes one Python ``def``.

Pipeline per function: :mod:`.lower` turns the stack code into the register
form of :mod:`.ir` (virtual registers named by stack height, branches
resolved to their targets and moves); :mod:`.emit` turns that into Python
source, shaped by :mod:`.structure` (structured ``while``/``if`` where
CPython's nesting limits allow, a state machine where they do not), with the
instruction rules of :mod:`.exprs`; ``compile()`` makes a code object that
each instance executes in its own namespace (see ``runtime.instance``).

A :class:`CompiledModule` is one module compiled for one variant (metered
for gas or not) and one float semantics (the spec's, or ``canonical_nans``:
every NaN made by arithmetic is the positive canonical one, so that results
do not depend on the CPU; see ``exprs.canonical_rules``): each function is
compiled once, lazily (the first time it is called, or when
``CompiledModule.compile_all`` asks), and every instance made from the
same ``CompiledModule`` shares the code objects. The compiler keeps nothing
between calls: whoever compiles a module (``wasm.compile``, see
``runtime.compiled``) holds the result as long as it wants.
``render_ir``/``render_python`` show the two intermediate forms of one
function (``wasmpool dump --ir/--python``).
"""

from __future__ import annotations

import threading
import time
from functools import cached_property
from types import CodeType

from ..module import Module
from ..numeric_float import CANONICAL_NAN
from ..recursion import COMPILE_MARGIN, COMPILE_PER_LEVEL, check_recursion, stack_depth
from ..types import ExternKind
from .direct import escaped_functions
from .emit import ModuleView, emit_function, entry_price
from .exprs import CANONICAL_NAN_NAME, NEGATIVE_CANONICAL_NAN_NAME
from .growth import steady_functions
from .ir import Block, If, IRFunction, Loop, Node, render_function
from .lower import CompileError, ModuleInfo, lower_function
from .signatures import signature_id

DEFAULT_MAX_REGISTERS = 50_000
STASH_BYTES = 256 * 1024  # code bytes of direct functions kept lowered between pricing and compiling


class CompiledModule:
    """One module's compiled functions (variant ``metered``, ``canonical_nans``), compiled on first demand.

    :meth:`code` compiles a function the first time anyone asks and keeps the
    code object for every later instance; :meth:`compile_all` does them all.
    Register limits are checked for every function when the object is made,
    so a module over the limit fails at instantiation, not at its first call.
    """

    def __init__(self, module: Module, metered: bool, max_registers: int,
                 canonical_nans: bool = False) -> None:
        self.module = module
        self.metered = metered
        self.canonical_nans = canonical_nans  # every arithmetic NaN the positive canonical one
        self.max_registers = max_registers
        self.signatures = [signature_id(ftype) for ftype in module.types]  # by type index, for instances
        self.code_bytes = sum(func.size for func in module.funcs)  # decides eager compilation, once
        self.setup_price: int | None = None  # a metered instantiation's gas price, set on first use
        self._names: tuple[list[str], list[str]] | None = None
        self.codes: dict[int, tuple[CodeType, dict[str, float]]] = {}
        self.seconds = 0.0  # spent compiling so far
        self.source_bytes = 0
        self._lock = threading.Lock()
        check_all_registers(module, max_registers)

    # What compiling needs of the module, made on the first compilation: a module loaded whole
    # from a compiled-code cache never compiles, so its load does none of this work.

    @cached_property
    def info(self) -> ModuleInfo:
        return ModuleInfo.of(self.module, self.canonical_nans)

    @cached_property
    def view(self) -> ModuleView:
        return module_view(self.module)

    @cached_property
    def prepay(self) -> EntryPrices | None:
        return EntryPrices(self.module, self.info, self.max_registers) if self.metered else None

    def code(self, index: int) -> tuple[CodeType, dict[str, float]]:
        """The code object of ``f{index}`` (a closure over ``GAS`` when metered) and its float constants."""
        found = self.codes.get(index)
        if found is not None:
            return found
        with self._lock:
            found = self.codes.get(index)
            if found is None:
                start = time.perf_counter()
                source, constants = function_source(self.module, index, self.metered, self.info,
                                                    self.view, self.max_registers, self.prepay,
                                                    self.canonical_nans)
                found = self.codes[index] = (_python_code(source, index), constants)
                self.seconds += time.perf_counter() - start
                self.source_bytes += len(source)
        return found

    def names(self) -> tuple[list[str], list[str]]:
        """The namespace names of every function's raw callable (``f{i}``) and funcref (``r{i}``)."""
        if self._names is None:
            imported = sum(1 for imp in self.module.imports if imp.kind == ExternKind.FUNC)
            count = imported + len(self.module.funcs)
            self._names = ([f"f{i}" for i in range(count)], [f"r{i}" for i in range(count)])
        return self._names

    def compile_all(self) -> CompiledModule:
        """Compile every function now (timing, tests, warming a cache)."""
        for defined in range(len(self.module.funcs)):
            self.code(self.info.num_imported + defined)
        return self


class EntryPrices:
    """The entry price of each direct function of a module (None for the others), computed on demand.

    A direct function (see :mod:`.direct`) is priced from its reshaped
    register form; the price is kept for every later call site, and the form
    itself (up to :data:`STASH_BYTES` of code, oldest dropped first) until the
    function is compiled, which starts from it (:meth:`form`), so a function
    is lowered once whether its callers or itself are compiled first.
    """

    def __init__(self, module: Module, info: ModuleInfo, max_registers: int) -> None:
        self.module = module
        self.info = info
        self.max_registers = max_registers
        self.escaped = escaped_functions(module)
        self.prices: dict[int, int | None] = {}
        self.lowered: dict[int, IRFunction] = {}  # priced, not yet compiled: prepared, entry taken
        self.lowered_bytes = 0  # their code size, bounded by STASH_BYTES

    def __call__(self, index: int) -> int | None:
        if index in self.prices:
            return self.prices[index]
        price = None
        if index >= self.info.num_imported and index not in self.escaped:
            ir = lower(self.module, index, self.info, self.max_registers)
            check_nesting(nesting_depth(ir))
            price = entry_price(ir)
            self._keep(index, ir)
        self.prices[index] = price
        return price

    def take(self, index: int) -> IRFunction | None:
        """The function's register form as pricing left it (prepared, entry taken), if still kept."""
        ir = self.lowered.pop(index, None)
        if ir is not None:
            self.lowered_bytes -= self._size(index)
        return ir

    def form(self, index: int) -> tuple[IRFunction, bool]:
        """The register form to compile ``f{index}`` from, and whether it is already priced (prepared).

        A direct function priced before is not lowered again; one not priced
        yet is priced from the form it is compiled from.
        """
        ir = self.take(index)
        if ir is not None:
            return ir, True
        ir = lower(self.module, index, self.info, self.max_registers)
        check_nesting(nesting_depth(ir))
        if index in self.prices or index in self.escaped:
            return ir, False
        self.prices[index] = entry_price(ir)
        return ir, True

    def _keep(self, index: int, ir: IRFunction) -> None:
        size = self._size(index)
        while self.lowered and self.lowered_bytes + size > STASH_BYTES:  # the oldest go first
            self.take(next(iter(self.lowered)))
        if size <= STASH_BYTES:
            self.lowered[index] = ir
            self.lowered_bytes += size

    def _size(self, index: int) -> int:
        return self.module.funcs[index - self.info.num_imported].size


def _python_code(source: str, index: int) -> CodeType:
    """The code object of ``def f{index}`` itself (nested in its gas-cell maker when metered).

    ``dont_inherit``: the generated code does not take the compiler module's own
    ``__future__`` flags (it needs none; the code objects are the same either way).
    """
    try:
        unit = compile(source, f"<wasm function {index}>", "exec", dont_inherit=True)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # a compiler bug or an absurd function
        raise CompileError(f"function {index} could not be compiled to Python: {exc}") from exc
    code = _find_code(unit, f"f{index}")
    if code is None:  # our own invariant: the emitter always defines f{index}
        raise CompileError(f"function {index}: the generated source defines no f{index}")
    return code


def _find_code(code: CodeType, name: str) -> CodeType | None:
    """The code object named ``name`` among ``code``'s constants (searched depth first)."""
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found = const if const.co_name == name else _find_code(const, name)
            if found is not None:
                return found
    return None


def module_view(module: Module) -> ModuleView:
    """What emission needs of the module."""
    return ModuleView(
        func_types=module.func_types,
        types=module.types,
        global_mutable=tuple(g.mutable for g in module.global_types),
        type_sigs=tuple(signature_id(t) for t in module.types),
        steady=steady_functions(module),
    )


def check_registers(module: Module, func_index: int, max_registers: int) -> None:
    """Refuse a function whose registers (stack height + locals) exceed ``max_registers``."""
    _check_defined(module, func_index - module.num_imported_funcs, max_registers, func_index)


def check_all_registers(module: Module, max_registers: int) -> None:
    """:func:`check_registers` for every function the module defines (its imports counted once)."""
    num_imported = module.num_imported_funcs
    for defined in range(len(module.funcs)):
        _check_defined(module, defined, max_registers, num_imported + defined)


def _check_defined(module: Module, defined: int, max_registers: int, func_index: int) -> None:
    if 0 <= defined < len(module.funcs) and defined < len(module.code_info):
        func, code = module.funcs[defined], module.code_info[defined]
        registers = code.max_height + len(func.locals) + len(module.types[func.type_index].params)
        if registers > max_registers:
            raise CompileError(f"function {func_index} needs {registers} registers "
                               f"(stack {code.max_height} + locals), more than the limit {max_registers}")


def lower(module: Module, func_index: int, info: ModuleInfo | None = None,
          max_registers: int = DEFAULT_MAX_REGISTERS) -> IRFunction:
    """The register form of one module-defined function, checking the register limit."""
    check_registers(module, func_index, max_registers)
    return lower_function(info or ModuleInfo.of(module), func_index)


def function_source(module: Module, func_index: int, metered: bool = False,
                    info: ModuleInfo | None = None, view: ModuleView | None = None,
                    max_registers: int = DEFAULT_MAX_REGISTERS,
                    prepay: EntryPrices | None = None,
                    canonical_nans: bool = False) -> tuple[str, dict[str, float]]:
    """The Python source of one function and the float constants it names.

    ``canonical_nans``: every instruction that can make a NaN from arithmetic
    gives the positive canonical NaN (folded constants included); ``info``,
    when given, must have been made with the same option.
    """
    info = info or ModuleInfo.of(module, canonical_nans)
    if info.canonical_nans != canonical_nans:
        raise ValueError("the module info was made for the other canonical_nans option")
    if metered and prepay is None:
        prepay = EntryPrices(module, info, max_registers)
    if metered and prepay is not None:
        ir, prepared = prepay.form(func_index)  # a direct function's pricing and compile share one lowering
    else:
        ir, prepared = lower(module, func_index, info, max_registers), False
        check_nesting(nesting_depth(ir))
    try:
        result = emit_function(ir, view or module_view(module), metered, prepay, canonical_nans, prepared)
    except RecursionError:  # our own estimate of the recursion needed was short
        raise CompileError(f"function {func_index} is nested too deeply to compile") from None
    if canonical_nans:  # the NaN checks name the canonical NaNs
        result.constants[CANONICAL_NAN_NAME] = CANONICAL_NAN
        result.constants[NEGATIVE_CANONICAL_NAN_NAME] = -CANONICAL_NAN
    return result.source, result.constants


def nesting_depth(ir_or_body: IRFunction) -> int:
    """How deeply the function's constructs nest (the compiler recurses that deep).

    Lowering records it (``IRFunction.depth``); only a function it did not make is walked.
    """
    if ir_or_body.depth is not None:
        return ir_or_body.depth
    depth = 0
    stack: list[tuple[list[Node], int]] = [(ir_or_body.body, 0)]
    while stack:
        nodes, level = stack.pop()
        depth = max(depth, level)
        for node in nodes:
            if type(node) is Block or type(node) is Loop:
                stack.append((node.body, level + 1))
            elif type(node) is If:
                stack.append((node.then, level + 1))
                stack.append((node.orelse, level + 1))
    return depth


def check_nesting(depth: int) -> None:
    """RecursionLimitTooLow unless the process lets the compiler walk a function nested ``depth`` deep.

    Compilation may happen in the middle of a deep wasm call (the first call
    of a function), so the headroom is counted from the current stack depth.
    """
    needed = stack_depth() + COMPILE_MARGIN + COMPILE_PER_LEVEL * depth
    check_recursion(needed, f"compiling a function nested {depth} deep")


def render_ir(module: Module, func_index: int) -> str:
    """The register form of module-defined function ``func_index``, one instruction per line."""
    func = lower(module, func_index)
    check_nesting(nesting_depth(func))
    return render_function(func)


def render_python(module: Module, func_index: int, metered: bool = False,
                  canonical_nans: bool = False) -> str:
    """The generated Python source of function ``func_index``."""
    return function_source(module, func_index, metered, canonical_nans=canonical_nans)[0]


__all__ = [
    "CompileError",
    "CompiledModule",
    "check_all_registers",
    "check_nesting",
    "check_registers",
    "function_source",
    "lower",
    "render_ir",
    "render_python",
]
