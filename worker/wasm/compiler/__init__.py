"""The register compiler: each wasm function becomes one Python ``def``.

Pipeline per function: :mod:`.lower` turns the stack code into the register
form of :mod:`.ir` (virtual registers named by stack height, branches
resolved to their targets and moves); :mod:`.emit` turns that into Python
source, shaped by :mod:`.structure` (structured ``while``/``if`` where
CPython's nesting limits allow, a state machine where they do not), with the
instruction rules of :mod:`.exprs`; ``compile()`` makes a code object that
each instance executes in its own namespace (see ``runtime.instance``).

Compilation happens once per module and variant (metered for gas or not) and
is cached; instances of the same module share the code objects.
``render_ir``/``render_python`` show the two intermediate forms of one
function (``wasmpool dump --ir/--python``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from types import CodeType

from ..errors import LinkError
from ..module import Module
from .emit import ModuleView, emit_function
from .ir import Block, If, IRFunction, Loop, Node, render_function
from .lower import CompileError, ModuleInfo, lower_function
from .signatures import signature_id

DEFAULT_MAX_REGISTERS = 50_000
CACHE_SIZE = 64
_RECURSION_PER_LEVEL = 8  # Python frames the compiler uses per nesting level of a function


@dataclass(frozen=True, slots=True)
class CompiledModule:
    """The code objects of one module's functions (variant ``metered``) and their constants."""

    module: Module
    metered: bool
    codes: dict[int, CodeType]  # function index -> code that defines f{index}
    constants: dict[str, float]
    seconds: float
    source_bytes: int


_cache: OrderedDict[tuple[int, bool, int], CompiledModule] = OrderedDict()
_lock = threading.Lock()


def module_view(module: Module) -> ModuleView:
    """What emission needs of the module."""
    return ModuleView(
        func_types=module.func_types,
        types=module.types,
        global_mutable=tuple(g.mutable for g in module.global_types),
        type_sigs=tuple(signature_id(t) for t in module.types),
    )


def lower(module: Module, func_index: int, info: ModuleInfo | None = None,
          max_registers: int = DEFAULT_MAX_REGISTERS) -> IRFunction:
    """The register form of one module-defined function, checking the register limit."""
    info = info or ModuleInfo.of(module)
    defined = func_index - info.num_imported
    if 0 <= defined < len(module.funcs) and defined < len(module.code_info):
        func, code = module.funcs[defined], module.code_info[defined]
        registers = code.max_height + len(func.locals) + len(module.types[func.type_index].params)
        if registers > max_registers:
            raise CompileError(f"function {func_index} needs {registers} registers "
                               f"(stack {code.max_height} + locals), more than the limit {max_registers}")
    return lower_function(info, func_index)


def function_source(module: Module, func_index: int, metered: bool = False,
                    info: ModuleInfo | None = None, view: ModuleView | None = None,
                    max_registers: int = DEFAULT_MAX_REGISTERS) -> tuple[str, dict[str, float]]:
    """The Python source of one function and the float constants it names."""
    ir = lower(module, func_index, info, max_registers)
    with _deep_recursion(nesting_depth(ir)):
        result = emit_function(ir, view or module_view(module), metered)
    return result.source, result.constants


def compile_module(module: Module, metered: bool = False,
                   max_registers: int = DEFAULT_MAX_REGISTERS) -> CompiledModule:
    """Compile (or fetch from the cache) every function of ``module``."""
    key = (id(module), metered, max_registers)
    with _lock:
        found = _cache.get(key)
        if found is not None and found.module is module:
            _cache.move_to_end(key)
            return found
    compiled = _compile(module, metered, max_registers)
    with _lock:
        _cache[key] = compiled
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _compile(module: Module, metered: bool, max_registers: int) -> CompiledModule:
    start = time.perf_counter()
    info = ModuleInfo.of(module)
    view = module_view(module)
    codes: dict[int, CodeType] = {}
    constants: dict[str, float] = {}
    size = 0
    for defined in range(len(module.funcs)):
        index = info.num_imported + defined
        source, consts = function_source(module, index, metered, info, view, max_registers)
        size += len(source)
        try:
            codes[index] = compile(source, f"<wasm function {index}>", "exec")
        except (SyntaxError, RecursionError, MemoryError) as exc:  # a compiler bug or an absurd function
            raise CompileError(f"function {index} could not be compiled to Python: {exc}") from exc
        constants.update(consts)
    return CompiledModule(module, metered, codes, constants, time.perf_counter() - start, size)


def nesting_depth(ir_or_body: IRFunction) -> int:
    """How deeply the function's constructs nest (the compiler recurses that deep)."""
    depth = 0
    stack: list[tuple[list[Node], int]] = [(ir_or_body.body, 0)]
    while stack:
        nodes, level = stack.pop()
        depth = max(depth, level)
        for node in nodes:
            if isinstance(node, Block | Loop):
                stack.append((node.body, level + 1))
            elif isinstance(node, If):
                stack.append((node.then, level + 1))
                stack.append((node.orelse, level + 1))
    return depth


class _deep_recursion:
    """Raise the recursion limit while the compiler walks a deeply nested function."""

    def __init__(self, depth: int) -> None:
        self.needed = 1000 + _RECURSION_PER_LEVEL * depth
        self.saved = 0

    def __enter__(self) -> None:
        self.saved = sys.getrecursionlimit()
        if self.needed > self.saved:
            sys.setrecursionlimit(self.needed)

    def __exit__(self, *exc: object) -> None:
        sys.setrecursionlimit(self.saved)


def render_ir(module: Module, func_index: int) -> str:
    """The register form of module-defined function ``func_index``, one instruction per line."""
    return render_function(lower(module, func_index))


def render_python(module: Module, func_index: int, metered: bool = False) -> str:
    """The generated Python source of function ``func_index``."""
    return function_source(module, func_index, metered)[0]


__all__ = [
    "CompileError",
    "CompiledModule",
    "LinkError",
    "compile_module",
    "function_source",
    "render_ir",
    "render_python",
]
