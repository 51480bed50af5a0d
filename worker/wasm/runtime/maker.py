"""A module's instance maker: its instantiation written out as one straight-line Python function.

What :mod:`.prepared` keeps as tables, the general instantiation walks with
loops and branches for every instance. For the common shape of a contract
(every function compiled, imports that are all host functions taking the
caller, segments the module alone decides, globals with constant values)
the walk is the same every time, so it is written out once per compiled
module as Python source: one statement per import bound, function made,
global, table, memory, image write and export, with the module's own
objects (code objects, types, signature ids, host entries, image bytes) as
names of the maker's globals. An instance then costs the objects it must
own and little else.

The maker first checks that the host functions are the objects it was made
for (the last instance's imports, see :class:`.prepared.HostLink`): if they
are not, or a name is missing, it returns False having changed nothing, and
the general path links the instance (and says what is missing). A module of
any other shape, or too large to write out (:data:`MAX_STATEMENTS`), has no
maker. The maker does exactly what the general path does for such a module:
the same objects, in the same index spaces, with the same names.

*Shells.* Most of what a maker makes does not depend on the instance's
state: the namespace dict, the functions over it (their globals that dict,
their closure the gas cell), the host functions bound to a
:class:`~.functions.Caller`, the f32 rounding cell. Those make a
:class:`Shell`, and :meth:`Instance.release <.instance.Instance.release>`
hands it back to its maker, which gives it to its next instance instead of
making another: the caller is pointed at the new instance, the gas cell
takes the new limit, and every name that holds the instance's state (the
memory and its bytearray, tables, globals, the escaping functions'
objects, the segments, the meter) is bound afresh, exactly as the maker
binds them for a new shell. Nothing of one instance is reachable from the
next: compiled code keeps nothing between calls but what those names hold,
the released instance's function objects raise :class:`LinkError`, and a
shell whose functions another instance linked to (its raw callables bound
into that instance's namespace) is never handed back (:func:`linked`).
Taking a shell over instead of making one takes the token contract's
setup from about 10.5 to 8.5 µs (``bench/engine/instance_setup.py``).
As a shell is made rarely, its part of the maker is written as loops over
the module's names and objects rather than a statement per function: the
maker's source, which CPython compiles once per module and process (or
which comes from the disk cache), stays short. For a module of many
functions that makes the maker cheaper than one statement per function
did (a Rust library's 4.0 -> 1.65 ms); a small one's costs what it did
(0.6 ms for the token contract).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import is_
from types import CellType, CodeType, FunctionType, MethodType
from typing import Any

from ..compiler.f32cell import CELL
from ..numeric_float import f32_cell
from ..types import ExternKind
from .functions import Caller, Function
from .globals import Global
from .memory import Memory
from .prepared import DYNAMIC, NULL, Prepared, new_table

MAX_STATEMENTS = 2000
"""Modules needing more statements than this keep the general path (the maker's source stays small)."""

MAX_IDLE_SHELLS = 8
"""Released shells a maker keeps for its next instances (more are dropped: nested calls of one module)."""

Maker = Callable[[Any, Any, Any], bool]
"""make(instance, imports, sized) -> whether it made the instance (False: nothing done)."""


class Shell:
    """What a maker made for one instance that its next instance can take over (see the module docstring).

    ``ns``: the namespace, its functions and host bindings in place; ``caller``:
    the :class:`Caller` those bindings hold (None without host imports);
    ``cell``: the gas cell the functions close over (None when unmetered);
    ``parked``: the names holding memories, tables and element segments,
    unbound while the shell waits, so that an idle shell keeps no instance's
    memory alive; ``idle``: the maker's list of waiting shells.
    """

    __slots__ = ("caller", "cell", "idle", "ns", "parked")

    def __init__(self, ns: dict[str, Any], caller: Caller | None, cell: CellType | None,
                 parked: tuple[str, ...], idle: list[Shell]) -> None:
        self.ns = ns
        self.caller = caller
        self.cell = cell
        self.parked = parked
        self.idle = idle

    def park(self, meter: Any) -> None:
        """Take the shell back from its released instance (whose ``meter`` keeps its own final gas)."""
        ns = self.ns
        for name in self.parked:
            ns[name] = None
        if self.caller is not None:
            self.caller._instance = None
        cell = self.cell
        if cell is not None:
            meter.cell = CellType(cell.cell_contents)  # the released instance's gas stays readable
        if len(self.idle) < MAX_IDLE_SHELLS:
            self.idle.append(self)


def linked(instance: Any) -> None:
    """Say that another instance bound ``instance``'s raw callables: its shell is never reused."""
    if getattr(instance, "shell", None) is not None:
        instance.shell = None


def maker_for(prep: Prepared) -> Maker | None:
    """The module's maker for the current host bindings (made again when they change), or None."""
    link = prep.host_link
    seen = link.seen if link is not None else None
    found = prep.maker
    if found is not None and found[0] is seen:
        known: Maker | None = found[1]
        return known
    made = _make(prep, seen) if _fits(prep, seen) else None
    prep.maker = (seen, made)
    return made


def _fits(prep: Prepared, seen: Any) -> bool:
    """Whether the module has the shape a maker writes out (see the module docstring)."""
    if prep.batch is None or prep.image is None:
        return False
    if prep.imports and (prep.host_link is None or seen is None):
        return False
    if any(value is DYNAMIC for _, _, value, _ in prep.global_rows):
        return False
    statements = len(prep.imports) + 2 * len(prep.functions) + len(prep.exports) + len(prep.global_rows)
    return statements <= MAX_STATEMENTS


class _Source:
    """The maker's source lines and the objects its globals name."""

    def __init__(self) -> None:
        self.checks: list[str] = []  # the host functions' check: before anything is done
        self.shell: list[str] = []  # a new shell's bindings
        self.lines: list[str] = []  # the instance's own objects, shell new or taken over
        self.parked: list[str] = ["E"]  # names unbound while the shell is idle
        self.caller = False  # whether the shell binds host functions to a Caller
        self.names: dict[str, Any] = {
            "CELL": CELL, "Caller": Caller, "Function": Function, "FunctionType": FunctionType,
            "Global": Global, "IndexError": IndexError, "Memory": Memory, "MethodType": MethodType,
            "Shell": Shell, "f32_cell": f32_cell, "is_": is_, "new_table": new_table, "repeat": repeat,
        }

    def line(self, text: str) -> None:
        self.lines.append("    " + text)

    def shell_line(self, text: str) -> None:
        self.shell.append("        " + text)

    def name(self, prefix: str, value: Any) -> str:
        """A global of the maker holding ``value``."""
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name


def _make(prep: Prepared, seen: Any) -> Maker:
    src = _Source()
    funcs: list[str] = []  # what Instance.funcs gets, as expressions
    _imports(prep, seen, src, funcs)
    _functions(prep, src, funcs)
    src.line(f"inst.funcs.extend(({''.join(f + ', ' for f in funcs)}))")
    spaces = _allocate(prep, src)
    spaces[ExternKind.FUNC] = funcs
    _exports_and_segments(prep, src, spaces, funcs)
    src.line("return True")
    lines = ["def make(inst, imports, sized):", *src.checks, *_shell(prep, src), *src.lines]
    source = "\n".join(lines) + "\n"
    namespace = dict(src.names)
    namespace["idle"] = []  # this maker's released shells
    exec(_code(prep, source), namespace)  # our own source from the module's tables
    maker: Maker = namespace["make"]
    return maker


def _shell(prep: Prepared, src: _Source) -> list[str]:
    """Take a released shell, or make one; either way ``ns`` is the instance's namespace after it."""
    batch = prep.batch
    assert batch is not None
    has_caller = src.caller
    metered = batch.closes
    lines = ["    meter = inst.meter", "    try:", "        shell = idle.pop()", "    except IndexError:",
             f"        ns = {src.name('template', prep.ns)}.copy()"]
    lines += src.shell
    if prep.f32_cell:
        lines.append("        ns[CELL] = f32_cell()  # its own: code rounds through it (compiler.f32cell)")
    parked = tuple(src.parked)
    lines.append(f"        shell = Shell(ns, {'caller' if has_caller else 'None'}, "
                 f"{'cell[0]' if metered else 'None'}, {parked!r}, idle)")
    lines += ["    else:", "        ns = shell.ns"]
    if has_caller:
        lines.append("        shell.caller._instance = inst")
    if metered:
        lines += ["        taken = shell.cell", "        taken.cell_contents = meter.cell.cell_contents",
                  "        meter.cell = taken"]
    lines += ["    inst.shell = shell", "    inst.ns = ns", "    ns['G'] = meter"]
    return lines


def _code(prep: Prepared, source: str) -> CodeType:
    """The maker's code object: the one kept (``Prepared.maker_code``) if made from this very source.

    Compiling the source is nearly all of what making a maker costs (about
    0.55 ms of 0.6 for the token contract); the source names every object it uses
    (no signature id or other process-made number is written into it), so
    a code object compiled in another process from equal source, kept with
    the module in a disk cache, is the same maker.
    """
    known = prep.maker_code
    if known is not None and known[0] == source:
        return known[1]
    code = compile(source, "<instance maker>", "exec")
    prep.maker_code = (source, code)
    return code


def _imports(prep: Prepared, seen: Any, src: _Source, funcs: list[str]) -> None:
    """Check the host functions are the ones bound (else return False, nothing done), then bind them."""
    link = prep.host_link
    if link is None or seen is None:
        return
    values, entries = seen
    parts = []
    src.checks.append("    try:")
    for group, (module_name, getter) in enumerate(link.groups):
        src.checks.append(f"        v{group} = {src.name('get', getter)}(imports[{module_name!r}])")
        parts.append(f"v{group}")
    src.checks += ["    except (KeyError, TypeError):", "        return False",
                   f"    if not all(map(is_, {' + '.join(parts)}, {src.name('known', values)})):",
                   "        return False"]
    src.shell_line("caller = Caller(inst)")  # a new shell's: written as loops, as a shell is made rarely
    src.shell_line(f"ns.update(zip({src.name('hosts', tuple(link.names))}, "
                   f"map(MethodType, {src.name('entries', tuple(entries))}, repeat(caller))))")
    src.caller = True
    funcs += ["None"] * len(link.names)


def _functions(prep: Prepared, src: _Source, funcs: list[str]) -> None:
    batch = prep.batch
    assert batch is not None
    closure = "(meter.cell,)" if batch.closes else "None"
    src.shell_line(f"cell = {closure}")
    names = src.name("names", tuple(batch.names))
    src.shell_line(f"ns.update(zip({names}, map(FunctionType, {src.name('codes', tuple(batch.codes))}, "
                   f"repeat(ns), {names}, repeat(None), repeat(cell))))")
    funcs += ["None"] * len(batch.codes)
    first = len(funcs) - len(batch.codes)
    if batch.escaped:
        src.line("units, reentry = sized.stack_units, sized.reentry")
    for position, ftype, sig, ref in batch.escaped:
        name = batch.names[position]
        ftype_name = src.name("type", ftype)
        sig_name = src.name("sig", sig)  # a name, not the number: signature ids are this process's
        src.line(f"ns[{ref!r}] = {ref} = Function({ftype_name}, ns[{name!r}], units, reentry, inst, "
                 f"{sig_name})")
        funcs[first + position] = ref


def _allocate(prep: Prepared, src: _Source) -> dict[int, list[str]]:
    """Globals, tables and memories; returns the expressions of each index space."""
    globals_: list[str] = []
    for index, (gtype, _, value, slot) in enumerate(prep.global_rows):
        if gtype.mutable:
            src.line(f"g{index} = Global.of_runtime({src.name('gtype', gtype)}, {src.name('value', value)})")
            globals_.append(f"g{index}")
        else:
            globals_.append(src.name("shared", value))  # immutable and constant: one object for all
        if slot is not None:
            src.line(f"ns[{slot!r}] = g{index}" if gtype.mutable else f"ns[{slot!r}] = {globals_[-1]}.v")
    if globals_:
        src.line(f"inst.globals.extend(({''.join(g + ', ' for g in globals_)}))")
    src.line("budget = inst.budget")
    src.line(f"budget.used += {prep.initial_bytes}")
    image = prep.image
    assert image is not None
    tables: list[str] = []
    for index, table_type in enumerate(prep.module.tables):
        writes = src.name("writes", image.table_writes[index])
        src.line(f"t{index} = new_table({src.name('ttype', table_type)}, sized.table_caps[{index}], budget, "
                 f"{writes}, inst.funcs)")
        src.line(f"ns['t{index}'] = t{index}.elems")
        src.line(f"ns['T{index}'] = t{index}")
        src.parked += [f"t{index}", f"T{index}"]
        tables.append(f"t{index}")
    if tables:
        src.line(f"inst.tables.extend(({''.join(t + ', ' for t in tables)}))")
    memories: list[str] = []
    for index, (size, maximum, writes_m) in enumerate(prep.memory_rows):
        src.line(f"m{index} = bytearray({size})")
        for start, end, chunk in writes_m:
            src.line(f"m{index}[{start}:{end}] = {src.name('chunk', chunk)}")
        src.line(f"mem{index} = Memory.checked(m{index}, {maximum!r}, sized.memory_caps[{index}], budget)")
        memories.append(f"mem{index}")
    if memories:
        src.line(f"inst.memories.extend(({''.join(m + ', ' for m in memories)}))")
        src.line("ns['MEM'] = mem0")
        src.line("ns['M'] = m0")
        src.parked += ["MEM", "M"]
    return {ExternKind.TABLE: tables, ExternKind.MEMORY: memories, ExternKind.GLOBAL: globals_}


def _exports_and_segments(prep: Prepared, src: _Source, spaces: dict[int, list[str]],
                          funcs: list[str]) -> None:
    if prep.exports:
        src.line("exports = inst.exports")
    for name, kind, index in prep.exports:
        src.line(f"exports[{name!r}] = {spaces[kind][index]}")
    if prep.host_memory is not None:
        src.line(f"inst.host_memory = {spaces[ExternKind.MEMORY][prep.host_memory]}")
    image = prep.image
    assert image is not None
    segments = ["()" if items is None else "[" + "".join(
        ("None" if i == NULL else funcs[i]) + ", " for i in items) + "]" for items in image.elems]
    src.line(f"ns['E'] = [{', '.join(segments)}]")
    src.line(f"ns['D'] = {src.name('datas', image.datas)}.copy()")


__all__ = ["MAX_IDLE_SHELLS", "MAX_STATEMENTS", "Maker", "Shell", "linked", "maker_for"]
