"""Random, valid, terminating function bodies: typed expression trees and structured control flow.

A :class:`FuncGen` writes one function's body as ``(Opcode, imm)`` pairs for
:class:`~wasmpool.wasm.builder.ModuleBuilder`. It keeps the validator's view
of the code while it writes: the locals and their types, and the label stack
(the types a branch to each label carries), so every branch it emits is to a
real label with the right values, at a random depth.

* :meth:`FuncGen.expr` leaves exactly one value of a given type: a constant,
  local, global, any numeric instruction of that result type over generated
  operands, ``select``, ``local.tee``, a ``block``/``if``/``loop`` with a
  result whose body may branch out carrying values (``br``, ``br_if``,
  ``br_table``, ``return``), a block with parameters, a call (multi-value
  results spilled to scratch locals), an indirect call, or a load.
* :meth:`FuncGen.stmt` leaves nothing: ``local.set``, ``global.set``,
  stores, bounded loops, ``if`` without results, branches, dropped values.

Growing memory (the profiles of :func:`growing`): ``memory.grow`` by 0 to 2
pages (rarely by a huge count), its result used as a value, under a
declared maximum so that grows also fail; ``memory.size``; addresses drawn
around and past the current end of memory, and in the pages a grow may have
added (so some accesses trap, others reach new pages); and calls -- direct
or through the table -- to functions that may grow memory, followed by an
access to memory (compiled code must bind its views of memory again after
those calls; see ``compiler/growth.py``). A function that grows, or calls
one that may, may grow itself, so chains of such calls come by themselves.
The other profiles draw none of this: their programs stay as they were.

Words (the profiles of :func:`with_words`): a few i32 locals of their own
that are loaded from memory (aligned or not), copied, given constants,
compared with each other and with constants (``eq``, ``ne``, the signed
orderings, ``eqz``) and stored back -- the locals the compiler holds as
signed ints (``compiler/signed.py``) -- and now and then used as any other
i32 value (an add, a call argument), which rules them and every word they
meet out of that form.

Pointers (the profiles of :func:`with_pointers`): a few i32 locals of their
own set to aligned addresses (constants in memory, near its end, or near
the top of the address space, so that a step wraps around; masked or shifted
values; each other; around ``2**31``), stepped by multiples of 4 or 8 (up or down, as an add
or a subtraction) in counted loops whose bodies load and store through them
with all sorts of offsets -- the locals the compiler holds as view indexes
inside loops (``compiler/scaled.py``) -- and now and then read as numbers,
or set to an odd address, which leaves them out of that form.

Termination: every loop has its own counter local, set to a small number
before the loop and decremented at the top of every iteration (so every
branch back to the loop counts); no generated code reads or writes a counter
otherwise, and no branch goes back to a loop from code that runs after its
counter is found to be zero (the result part of a ``loop (result t)``).
Calls only go to functions defined earlier, and only to those whose
estimated cost (instructions, times the iterations of the loops they
sit in, plus their callees' cost) keeps the caller's cost bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import OPS, Family, Imm, Opcode, OpInfo
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import ValType

from .values import NUM_TYPES, Chooser, draw_nan, draw_nan_rich, draw_value

Code = list[Instruction]

NUMERIC_OPS: list[OpInfo] = [info for info in OPS.values() if info.family is Family.NUMERIC]
"""Every numeric instruction (all unary, binary, compare, test and conversion rows)."""

OPS_BY_RESULT: dict[ValType, list[OpInfo]] = {
    t: [info for info in NUMERIC_OPS if info.pushes == (t,)] for t in NUM_TYPES
}
LOADS_BY_RESULT: dict[ValType, list[OpInfo]] = {
    t: [info for info in OPS.values() if info.imm is Imm.MEMARG and info.pushes == (t,)] for t in NUM_TYPES
}
STORES: list[OpInfo] = [info for info in OPS.values() if info.imm is Imm.MEMARG and not info.pushes]
CONSTS: dict[ValType, Opcode] = {
    ValType.I32: O.I32_CONST, ValType.I64: O.I64_CONST, ValType.F32: O.F32_CONST, ValType.F64: O.F64_CONST,
}
DIVISIONS = frozenset({O.I32_DIV_S, O.I32_DIV_U, O.I32_REM_S, O.I32_REM_U,
                       O.I64_DIV_S, O.I64_DIV_U, O.I64_REM_S, O.I64_REM_U})
TRAPPING_TRUNCATIONS = frozenset(info.op for info in NUMERIC_OPS if ".trunc_f" in info.name)
MEMORY_BYTES = 65536  # the generated modules' memory: one page to start with
DATA_BYTES = 256  # random bytes at address 0 (the data segment every module has)
GROWN_PAGES = 8  # the declared maximum of the memory of the growing profiles (the others: 2)
LOOP_LIMIT = 3  # a loop runs at most this many times (+1 for the exit check)
COST_LIMIT = 20_000  # the estimated instructions one call of a generated function may run
NO_BRANCH: tuple[ValType, ...] = (ValType.V128,)  # a label no generated branch may target


def const(vtype: ValType, bits: int) -> Instruction:
    """A constant instruction for a bit pattern (integer immediates are signed in the builder)."""
    return (CONSTS[vtype], bits)


@dataclass(frozen=True)
class Callee:
    """A function a generated body may call: index, type, table slot and estimated cost per call."""

    index: int
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]
    cost: int
    grows: bool = False  # its body holds memory.grow, or a call (direct or not) to a function that grows


@dataclass
class Env:
    """What the module offers a body: globals (type, mutable), earlier functions, the builder's types."""

    builder: ModuleBuilder
    globals: list[tuple[ValType, bool]]
    callees: list[Callee] = field(default_factory=list)
    table_size: int = 0


@dataclass(frozen=True)
class Profile:
    """Weights of the expression and statement forms (how a generator spends its choices)."""

    expr_forms: dict[str, int]
    stmt_forms: dict[str, int]
    max_depth: int
    budget: int  # instructions per function, roughly
    nan_rich: bool = False  # float constants and arguments are often NaNs (any payload) and specials
    grows: bool = False  # memory may grow: addresses reach past the first page (see :func:`growing`)
    words: bool = False  # word locals: loaded, compared and stored (see :func:`with_words`)
    pointers: bool = False  # pointer locals stepped through memory in loops (see :func:`with_pointers`)
    max_pages: int = 2  # the memory's declared maximum

    def draw(self, chooser: Chooser, vtype: ValType) -> int:
        """A constant or argument of ``vtype`` as this profile draws them."""
        return draw_nan_rich(chooser, vtype) if self.nan_rich else draw_value(chooser, vtype)


EXPRESSIONS = Profile(
    expr_forms={"const": 6, "local": 6, "global": 1, "op": 30, "select": 3, "tee": 2, "block": 2,
                "br_if": 2, "br_table": 2, "if": 2, "call": 1, "load": 2, "loop": 1, "params": 1,
                "indirect": 1},
    stmt_forms={"set": 4, "global_set": 1, "store": 2, "drop": 1, "switch": 1},
    max_depth=5, budget=120,
)
"""Mostly numeric trees, with every other form mixed in."""

CONTROL = Profile(
    expr_forms={"const": 5, "local": 6, "global": 1, "op": 8, "select": 2, "tee": 2, "block": 5,
                "br_if": 4, "br_table": 4, "if": 4, "call": 2, "load": 1, "loop": 3, "params": 2,
                "indirect": 1},
    stmt_forms={"set": 4, "global_set": 1, "store": 1, "drop": 1, "if": 3, "block": 3, "loop": 3,
                "br_if": 3, "call": 1, "switch": 2},
    max_depth=5, budget=250,
)
"""Nested blocks, loops and ifs with branches at random depths."""

NANS = Profile(
    expr_forms={**EXPRESSIONS.expr_forms, "nan": 14, "select": 5, "tee": 4, "global": 3, "call": 2},
    stmt_forms={**EXPRESSIONS.stmt_forms, "global_set": 3, "store": 4},
    max_depth=5, budget=120, nan_rich=True,
)
"""The expression profile, NaN-rich: NaN constants with payloads, NaNs made from numbers (0*inf,
inf-inf, 0/0, sqrt of a negative), passed through bit operations (``neg``, ``abs``, ``copysign``,
``reinterpret``), locals, globals, memory, ``select`` and calls (for ``canonical_nans`` differentials)."""

CONTROL_NANS = Profile(
    expr_forms={**CONTROL.expr_forms, "nan": 4},
    stmt_forms=CONTROL.stmt_forms,
    max_depth=5, budget=250, nan_rich=True,
)
"""The control-flow profile with NaN-rich constants and arguments and some NaN-making trees."""


def growing(profile: Profile) -> Profile:
    """``profile`` with memory that grows: ``memory.grow`` and ``memory.size``, accesses after calls.

    A separate profile rather than new forms in the old ones, so that every
    existing seed still writes the program it always did.
    """
    return Profile(
        expr_forms={**profile.expr_forms, "grow": 2, "size": 1, "after_call": 3},
        stmt_forms={**profile.stmt_forms, "grow": 1, "after_call": 2},
        max_depth=profile.max_depth, budget=profile.budget, nan_rich=profile.nan_rich,
        grows=True, max_pages=GROWN_PAGES,
    )


def with_words(profile: Profile) -> Profile:
    """``profile`` with word locals (see the module docstring); every existing seed keeps its program."""
    return Profile(
        expr_forms={**profile.expr_forms, "word_compare": 6, "word_leak": 3},
        stmt_forms={**profile.stmt_forms, "word_load": 4, "word_copy": 2, "word_const": 1, "word_store": 2},
        max_depth=profile.max_depth, budget=profile.budget, nan_rich=profile.nan_rich,
        grows=profile.grows, max_pages=profile.max_pages, words=True,
    )


def with_pointers(profile: Profile) -> Profile:
    """``profile`` with pointer locals (see the module docstring); every existing seed keeps its program."""
    return Profile(
        expr_forms={**profile.expr_forms, "pointer_load": 4, "pointer_leak": 2},
        stmt_forms={**profile.stmt_forms, "pointer_set": 3, "pointer_loop": 5, "pointer_store": 2},
        max_depth=profile.max_depth, budget=profile.budget, nan_rich=profile.nan_rich,
        grows=profile.grows, max_pages=profile.max_pages, pointers=True,
    )


MAX_POINTERS = 3  # pointer locals per function
_POINTER_STEPS = (4, 8, 16, -4, -8, 12, 24)  # bytes a pointer loop steps by (a multiple of 4)
_POINTER_OFFSETS = (0, 0, 0, 4, 8, 16, 24, 1, 2, 3, 33)  # memargs of accesses through a pointer
_POINTER_LOADS: dict[ValType, tuple[Opcode, ...]] = {  # by result: mostly through a view, some not
    ValType.I32: (O.I32_LOAD, O.I32_LOAD, O.I32_LOAD8_U),
    ValType.I64: (O.I64_LOAD, O.I64_LOAD32_U, O.I64_LOAD32_S),
    ValType.F32: (O.F32_LOAD,), ValType.F64: (O.F64_LOAD,),
}
_POINTER_STORES = (O.I32_STORE, O.I32_STORE, O.I64_STORE, O.F64_STORE, O.I64_STORE32, O.I32_STORE16)
_EDGE_POINTERS = (0xFFFF_FFF0, 0xFFFF_FFF8, 0xFFFF_FFFC, 0xFFFF_FFE0,  # stepping up wraps to 0
                  0x7FFF_FFF8, 0x8000_0000, 0x3FFF_FFFC)  # stepping up or down crosses 2**31 or 2**30
MAX_WORDS = 4  # word locals per function
_WORD_COMPARES = (O.I32_LT_S, O.I32_GT_S, O.I32_LE_S, O.I32_GE_S, O.I32_EQ, O.I32_NE)
_WORD_CONSTS = (0, 1, 5, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFF, 0xFFFF_FFFE)
_WORD_LEAKS: tuple[Code, ...] = (  # a word read as a number: as it is, or by instructions reading it unsigned
    [], [(O.I32_CONST, 1), O.I32_SHR_U], [(O.I32_CONST, -0x8000_0000), O.I32_LT_U], [O.I32_CLZ],
    [(O.I32_CONST, 7), O.I32_REM_U],
)


FLOAT_TYPES: dict[ValType, ValType] = {ValType.F32: ValType.I32, ValType.F64: ValType.I64}
"""Each float type and the integer type of its bits."""

_NAN_MAKERS: dict[ValType, dict[str, tuple[Opcode, int, int]]] = {
    # name: (instruction, left operand's bits, right operand's bits); -1: a generated operand
    ValType.F32: {"0*inf": (O.F32_MUL, 0, 0x7F80_0000), "inf-inf": (O.F32_SUB, 0x7F80_0000, 0x7F80_0000),
                  "0/0": (O.F32_DIV, 0x8000_0000, 0), "inf/-inf": (O.F32_DIV, 0x7F80_0000, 0xFF80_0000),
                  "-inf+inf": (O.F32_ADD, 0xFF80_0000, 0x7F80_0000), "x*inf": (O.F32_MUL, -1, 0xFF80_0000),
                  "x-inf": (O.F32_SUB, -1, 0x7F80_0000)},
    ValType.F64: {"0*inf": (O.F64_MUL, 0, 0x7FF0_0000_0000_0000),
                  "inf-inf": (O.F64_SUB, 0x7FF0_0000_0000_0000, 0x7FF0_0000_0000_0000),
                  "0/0": (O.F64_DIV, 0x8000_0000_0000_0000, 0),
                  "inf/-inf": (O.F64_DIV, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000),
                  "-inf+inf": (O.F64_ADD, 0xFFF0_0000_0000_0000, 0x7FF0_0000_0000_0000),
                  "x*inf": (O.F64_MUL, -1, 0xFFF0_0000_0000_0000),
                  "x-inf": (O.F64_SUB, -1, 0x7FF0_0000_0000_0000)},
}
_SQRT: dict[ValType, Opcode] = {ValType.F32: O.F32_SQRT, ValType.F64: O.F64_SQRT}
_NEGATIVE_ONE: dict[ValType, int] = {ValType.F32: 0xBF80_0000, ValType.F64: 0xBFF0_0000_0000_0000}
_BIT_OPS: dict[ValType, tuple[Opcode, Opcode, Opcode]] = {  # neg, abs, copysign
    ValType.F32: (O.F32_NEG, O.F32_ABS, O.F32_COPYSIGN), ValType.F64: (O.F64_NEG, O.F64_ABS, O.F64_COPYSIGN),
}
_REINTERPRET: dict[ValType, tuple[Opcode, Opcode]] = {  # float to bits, bits to float
    ValType.F32: (O.I32_REINTERPRET_F32, O.F32_REINTERPRET_I32),
    ValType.F64: (O.I64_REINTERPRET_F64, O.F64_REINTERPRET_I64),
}
_WIDENING: dict[ValType, tuple[ValType, Opcode]] = {  # a float made from the other width's NaN
    ValType.F32: (ValType.F64, O.F32_DEMOTE_F64), ValType.F64: (ValType.F32, O.F64_PROMOTE_F32),
}
_BITS_MASKS: dict[ValType, tuple[Opcode, int]] = {  # xor with a sign / payload mask on the bits
    ValType.I32: (O.I32_XOR, 0x8000_0001), ValType.I64: (O.I64_XOR, 0x8000_0000_0000_0001),
}


class FuncGen:
    """Writes one function body; see the module docstring."""

    def __init__(self, chooser: Chooser, env: Env, params: tuple[ValType, ...],
                 results: tuple[ValType, ...], profile: Profile) -> None:
        self.c = chooser
        self.env = env
        self.params = params
        self.results = results
        self.profile = profile
        self.locals: list[ValType] = list(params)
        for vtype in NUM_TYPES:
            self.locals += [vtype] * (1 + chooser.below(2))
        self.counters: set[int] = set()
        self.words: list[int] = []  # word locals (see :func:`with_words`), kept out of the other forms
        self.pointers: list[int] = []  # pointer locals (see :func:`with_pointers`), kept out too
        self.labels: list[tuple[ValType, ...]] = [results]
        self.emitted = 0
        self.multiplier = 1  # iterations of the loops around the code being written
        self.cost = 0
        self.grows = False  # whether the body written so far may grow memory (see :class:`Callee`)
        self._expr_forms: dict[str, Callable[[ValType, int], Code]] = {
            "const": self._const, "local": self._local_get, "global": self._global_get, "op": self._op,
            "select": self._select, "tee": self._tee, "block": self._block_expr, "br_if": self._br_if_expr,
            "br_table": self._br_table_expr, "if": self._if_expr, "call": self._call_expr,
            "load": self._load, "loop": self._loop_expr, "params": self._params_block,
            "indirect": self._indirect_expr, "nan": self._nan_expr, "grow": self._grow_expr,
            "size": self._size_expr, "after_call": self._after_call_expr,
            "word_compare": self._word_compare, "word_leak": self._word_leak,
            "pointer_load": self._pointer_load, "pointer_leak": self._pointer_leak,
        }
        self._stmt_forms: dict[str, Callable[[int], Code]] = {
            "set": self._set, "global_set": self._global_set, "store": self._store, "drop": self._drop,
            "if": self._if_stmt, "block": self._block_stmt, "loop": self._loop_stmt,
            "br_if": self._br_if_stmt, "call": self._call_stmt, "switch": self._switch_stmt,
            "grow": self._grow_stmt, "after_call": self._after_call_stmt,
            "word_load": self._word_load, "word_copy": self._word_copy, "word_const": self._word_const,
            "word_store": self._word_store, "pointer_set": self._pointer_set,
            "pointer_loop": self._pointer_loop, "pointer_store": self._pointer_store,
        }

    # -- the whole body

    def body(self) -> Code:
        """The function body (without its final ``end``)."""
        return self.seq(self.results, self.profile.max_depth)

    @property
    def declared_locals(self) -> list[ValType]:
        return self.locals[len(self.params):]

    def seq(self, results: tuple[ValType, ...], depth: int) -> Code:
        """Statements, then either the values ``results`` or a branch out (the innermost label is ours)."""
        code: Code = []
        for _ in range(self.c.below(3) if depth > 0 and not self._spent else 0):
            code += self.stmt(depth - 1)
        if depth > 0 and self.c.chance(12):
            return code + self._branch_out(depth - 1)
        for vtype in results:
            code += self.expr(vtype, depth)
        return code

    @property
    def _spent(self) -> bool:
        return self.emitted > self.profile.budget

    def _emit(self, code: Code) -> Code:
        self.emitted += len(code)
        self.cost += len(code) * self.multiplier
        return code

    def _weighted(self, forms: dict[str, int]) -> str:
        total = sum(forms.values())
        roll = self.c.below(total)
        for form, weight in forms.items():
            roll -= weight
            if roll < 0:
                return form
        raise AssertionError("unreachable")

    # -- expressions

    def expr(self, vtype: ValType, depth: int) -> Code:
        """Code leaving one value of ``vtype``."""
        if depth <= 0 or self._spent:
            return self._leaf(vtype)
        form = self._weighted(self.profile.expr_forms)
        return self._expr_forms[form](vtype, depth - 1)

    def _leaf(self, vtype: ValType) -> Code:
        roll = self.c.below(3)
        if roll == 0:
            return self._const(vtype, 0)
        if roll == 1:
            return self._global_get(vtype, 0)
        return self._local_get(vtype, 0)

    def _const(self, vtype: ValType, depth: int) -> Code:
        return self._emit([const(vtype, self.profile.draw(self.c, vtype))])

    def _locals_of(self, vtype: ValType) -> list[int]:
        return [i for i, t in enumerate(self.locals)
                if t == vtype and i not in self.counters and i not in self.words and i not in self.pointers]

    def _local_get(self, vtype: ValType, depth: int) -> Code:
        return self._emit([(O.LOCAL_GET, self.c.pick(self._locals_of(vtype)))])

    def _global_get(self, vtype: ValType, depth: int) -> Code:
        found = [i for i, (t, _) in enumerate(self.env.globals) if t == vtype]
        return self._emit([(O.GLOBAL_GET, self.c.pick(found))])

    def _op(self, vtype: ValType, depth: int) -> Code:
        info = self.c.pick(OPS_BY_RESULT[vtype])
        if info.op in TRAPPING_TRUNCATIONS and self.c.chance(50):  # they trap on most random floats
            info = self.c.pick(OPS_BY_RESULT[vtype])
        code: Code = []
        for i, operand in enumerate(info.pops or ()):
            code += self.expr(operand, depth)
            if info.op in DIVISIONS and i == 1 and self.c.chance(75):
                code += self._emit([const(operand, 1), (O.I32_OR if operand == ValType.I32 else O.I64_OR)])
        return code + self._emit([info.op])

    def _nan_expr(self, vtype: ValType, depth: int) -> Code:
        """A value likely to be or to come from a NaN: made from numbers, a payload constant, moved by bits.

        For an integer type: the bits of such a float (``reinterpret``), or a
        comparison or saturating truncation of one.
        """
        if vtype not in FLOAT_TYPES:
            same = [t for t, bits in FLOAT_TYPES.items() if bits == vtype]
            if same and self.c.chance(60):
                return self._nan_expr(same[0], depth) + self._emit([_REINTERPRET[same[0]][0]])
            ftype = self.c.pick(list(FLOAT_TYPES))
            compare = [i for i in OPS_BY_RESULT[vtype] if i.pops == (ftype, ftype) or i.pops == (ftype,)]
            info = self.c.pick(compare) if compare else self.c.pick(OPS_BY_RESULT[vtype])
            if info.op in TRAPPING_TRUNCATIONS:
                info = self.c.pick(OPS_BY_RESULT[vtype])
            code: Code = []
            for operand in info.pops or ():
                code += self._nan_expr(operand, depth - 1) if operand == ftype else self.expr(operand, depth)
            return code + self._emit([info.op])
        roll = self.c.below(8)
        if roll == 0 or depth <= 0:
            return self._emit([const(vtype, draw_nan(self.c, vtype))])
        if roll == 1:  # 0*inf and the like, on constants or a generated operand
            op, left, right = self.c.pick(list(_NAN_MAKERS[vtype].values()))
            code = self.expr(vtype, depth) if left < 0 else self._emit([const(vtype, left)])
            return code + self._emit([const(vtype, right), op])
        if roll == 2:  # sqrt of a negative number
            if self.c.chance(50):
                value = self._emit([const(vtype, _NEGATIVE_ONE[vtype])])
            else:  # -|x|: negative, or -0 (sqrt keeps it), or a NaN
                value = self.expr(vtype, depth) + self._emit([_BIT_OPS[vtype][1], _BIT_OPS[vtype][0]])
            return value + self._emit([_SQRT[vtype]])
        if roll == 3:  # neg, abs or copysign of a NaN
            neg, abs_, copysign = _BIT_OPS[vtype]
            op = self.c.pick([neg, abs_, copysign])
            code = self._nan_expr(vtype, depth - 1)
            if op is copysign:
                code += self.expr(vtype, depth) if self.c.chance(50) else self._nan_expr(vtype, depth - 1)
            return code + self._emit([op])
        if roll == 4:  # through the integer bits, maybe with the sign and a payload bit flipped
            to_bits, from_bits = _REINTERPRET[vtype]
            code = self._nan_expr(vtype, depth - 1) + self._emit([to_bits])
            if self.c.chance(50):
                xor, mask = _BITS_MASKS[FLOAT_TYPES[vtype]]
                code += self._emit([const(FLOAT_TYPES[vtype], mask), xor])
            return code + self._emit([from_bits])
        if roll == 5:  # a NaN of the other width, promoted or demoted
            other, convert = _WIDENING[vtype]
            return self._nan_expr(other, depth - 1) + self._emit([convert])
        if roll == 6:  # arithmetic on a NaN and another value (either order)
            binary = [i.op for i in OPS_BY_RESULT[vtype] if i.pops == (vtype, vtype)]
            unary = [i.op for i in OPS_BY_RESULT[vtype] if i.pops == (vtype,)]
            if self.c.chance(60):
                parts = [self._nan_expr(vtype, depth - 1), self.expr(vtype, depth)]
                self.c.rng.shuffle(parts)
                return parts[0] + parts[1] + self._emit([self.c.pick(binary)])
            return self._nan_expr(vtype, depth - 1) + self._emit([self.c.pick(unary)])
        # through a local, a global or memory (stored, then loaded back)
        value = self._nan_expr(vtype, depth - 1)
        where = self.c.below(3)
        if where == 0:
            local = self.c.pick(self._locals_of(vtype))
            return value + self._emit([(O.LOCAL_SET, local)]) + self.expr(vtype, depth) + self._emit(
                [O.DROP, (O.LOCAL_GET, local)])
        mutable = [i for i, (t, mut) in enumerate(self.env.globals) if mut and t == vtype]
        if where == 1 and mutable:
            index = self.c.pick(mutable)
            return value + self._emit([(O.GLOBAL_SET, index), (O.GLOBAL_GET, index)])
        store = O.F32_STORE if vtype == ValType.F32 else O.F64_STORE
        load = O.F32_LOAD if vtype == ValType.F32 else O.F64_LOAD
        address = self.c.below(MEMORY_BYTES - 64)
        return (self._emit([(O.I32_CONST, address)]) + value
                + self._emit([(store, (0, 0)), (O.I32_CONST, address), (load, (0, 0))]))

    def _select(self, vtype: ValType, depth: int) -> Code:
        code = self.expr(vtype, depth) + self.expr(vtype, depth) + self.expr(ValType.I32, depth)
        return code + self._emit([(O.SELECT_T, (vtype,)) if self.c.chance(30) else O.SELECT])

    def _tee(self, vtype: ValType, depth: int) -> Code:
        return self.expr(vtype, depth) + self._emit([(O.LOCAL_TEE, self.c.pick(self._locals_of(vtype)))])

    def _block_expr(self, vtype: ValType, depth: int) -> Code:
        self.labels.append((vtype,))
        body = self.seq((vtype,), depth)
        self.labels.pop()
        return self._emit([(O.BLOCK, vtype)]) + body + self._emit([O.END])

    def _br_if_expr(self, vtype: ValType, depth: int) -> Code:
        """``block (result t) e1 cond br_if 0 drop e2 end``, or a ``br_if`` to an outer label of type t."""
        outer = [d for d, types in enumerate(reversed(self.labels)) if types == (vtype,)]
        self.labels.append((vtype,))
        if outer and self.c.chance(40):
            target = self.c.pick(outer) + 1
            code = self.expr(vtype, depth) + self.expr(ValType.I32, depth) + self._emit([(O.BR_IF, target)])
        else:
            code = self.expr(vtype, depth) + self.expr(ValType.I32, depth) + self._emit([(O.BR_IF, 0)])
            code += self._emit([O.DROP]) + self.expr(vtype, depth)
        self.labels.pop()
        return self._emit([(O.BLOCK, vtype)]) + code + self._emit([O.END])

    def _br_table_expr(self, vtype: ValType, depth: int) -> Code:
        """Two nested blocks of type t, a ``br_table`` picking one; its index may be a local read again."""
        self.labels += [(vtype,), (vtype,)]
        value = self.expr(vtype, depth)
        index_locals = self._locals_of(ValType.I32)
        reuse = self.c.chance(50)
        index_local = self.c.pick(index_locals)
        index = self._emit([(O.LOCAL_GET, index_local)]) if reuse else self.expr(ValType.I32, depth)
        targets = self._table([0, 1])
        inner = value + index + self._emit([(O.BR_TABLE, (targets, self.c.below(2)))])
        self.labels.pop()
        # Between the blocks: combine the carried value with something (the index local, when reused).
        between = self._emit([(O.LOCAL_GET, index_local)]) if reuse else self.expr(ValType.I32, depth)
        between += self._to_type(vtype) + self._combine(vtype)
        self.labels.pop()
        return (self._emit([(O.BLOCK, vtype), (O.BLOCK, vtype)]) + inner + self._emit([O.END]) + between
                + self._emit([O.END]))

    def _to_type(self, vtype: ValType) -> Code:
        """Convert an i32 on the stack to ``vtype``."""
        convert = {ValType.I32: [], ValType.I64: [O.I64_EXTEND_I32_U], ValType.F32: [O.F32_CONVERT_I32_S],
                   ValType.F64: [O.F64_CONVERT_I32_U]}
        return self._emit(list(convert[vtype]))

    def _combine(self, vtype: ValType) -> Code:
        """A binary instruction ``t t -> t``."""
        options = [i.op for i in OPS_BY_RESULT[vtype] if i.pops == (vtype, vtype) and i.op not in DIVISIONS]
        return self._emit([self.c.pick(options)])

    def _if_expr(self, vtype: ValType, depth: int) -> Code:
        cond = self.expr(ValType.I32, depth)
        self.labels.append((vtype,))
        then, other = self.seq((vtype,), depth), self.seq((vtype,), depth)
        self.labels.pop()
        return cond + self._emit([(O.IF, vtype)]) + then + self._emit([O.ELSE]) + other + self._emit([O.END])

    def _loop_expr(self, vtype: ValType, depth: int) -> Code:
        """``loop (result t)``: while the counter is not zero, decrement, run statements, branch back."""
        counter, init = self._counter()
        self.multiplier *= LOOP_LIMIT + 1
        self.labels.append(())  # the loop's label carries nothing
        self.labels.append(())  # the if's
        work: Code = []
        for _ in range(1 + self.c.below(2)):
            work += self.stmt(depth)
        back = self._emit([(O.BR, 1)])
        self.labels[-2:] = [NO_BRANCH]  # a branch back from the value would skip the counter's check
        value = self.expr(vtype, depth)
        self.labels.pop()
        self.multiplier //= LOOP_LIMIT + 1
        head = self._emit([(O.LOOP, vtype), (O.LOCAL_GET, counter), (O.IF, None), (O.LOCAL_GET, counter),
                           (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_SET, counter)])
        return init + head + work + back + self._emit([O.END]) + value + self._emit([O.END])

    def _params_block(self, vtype: ValType, depth: int) -> Code:
        """A block with parameters (a type index): its inputs are spilled to locals, then combined."""
        params = tuple(self.c.pick(NUM_TYPES) for _ in range(1 + self.c.below(2)))
        type_index = self.env.builder.type(params, (vtype,))
        code: Code = []
        for ptype in params:
            code += self.expr(ptype, depth)
        self.labels.append((vtype,))
        spill: Code = []
        for ptype in reversed(params):
            spill += self._emit([(O.LOCAL_SET, self.c.pick(self._locals_of(ptype)))])
        body = self.seq((vtype,), depth)
        self.labels.pop()
        return code + self._emit([(O.BLOCK, type_index)]) + spill + body + self._emit([O.END])

    def _callees(self, want: ValType | None) -> list[Callee]:
        return [f for f in self.env.callees
                if self.cost + f.cost * self.multiplier <= COST_LIMIT and (want is None or want in f.results)]

    def _args(self, callee: Callee, depth: int) -> Code:
        code: Code = []
        for ptype in callee.params:
            code += self.expr(ptype, depth)
        return code

    def _keep_result(self, results: tuple[ValType, ...], vtype: ValType) -> Code:
        """Spill a call's results to locals and push back the one of type ``vtype``."""
        keep = self.c.pick([i for i, t in enumerate(results) if t == vtype])
        slots = [self.c.pick(self._locals_of(t)) for t in results]
        if len(results) == 1:
            return []
        spill = [(O.LOCAL_SET, slot) for slot in reversed(slots)]
        return self._emit([*spill, (O.LOCAL_GET, slots[keep])])

    def _call_expr(self, vtype: ValType, depth: int) -> Code:
        callees = self._callees(vtype)
        if not callees:
            return self._op(vtype, depth)
        callee = self.c.pick(callees)
        self.cost += callee.cost * self.multiplier
        self.grows |= callee.grows
        code = self._args(callee, depth) + self._emit([(O.CALL, callee.index)])
        return code + self._keep_result(callee.results, vtype)

    def _indirect_expr(self, vtype: ValType, depth: int) -> Code:
        """``call_indirect`` through the table (slot i holds function i); sometimes a wrong slot traps."""
        callees = self._callees(vtype)
        if not callees or not self.env.table_size:
            return self._op(vtype, depth)
        callee = self.c.pick(callees)
        self.cost += callee.cost * self.multiplier
        self.grows |= callee.grows
        slot = callee.index if self.c.chance(90) else self.c.below(8)  # maybe another type, or past the end
        type_index = self.env.builder.type(callee.params, callee.results)
        code = self._args(callee, depth)
        code += self._emit([(O.I32_CONST, slot), (O.CALL_INDIRECT, (type_index, 0))])
        return code + self._keep_result(callee.results, vtype)

    def _address(self, width: int, depth: int) -> Code:
        """An address: mostly a constant in bounds, sometimes computed and masked, rarely anything.

        With a growing profile, often one near the memory's current end or in pages a grow may add.
        """
        if self.profile.grows and self.c.chance(20):
            return self._grown_address(width, depth)
        roll = self.c.below(20)
        if roll < 12:
            return self._emit([(O.I32_CONST, self.c.below(MEMORY_BYTES - 64))])
        if roll < 19:
            return self.expr(ValType.I32, depth) + self._emit([(O.I32_CONST, 0xFFC0), O.I32_AND])
        return self.expr(ValType.I32, depth)

    def _memarg(self, info: OpInfo) -> tuple[int, int]:
        return (self.c.below(info.align + 1), self.c.pick([0, 0, 1, 3, 8, 33]))

    def _load(self, vtype: ValType, depth: int) -> Code:
        info = self.c.pick(LOADS_BY_RESULT[vtype])
        return self._address(info.width, depth) + self._emit([(info.op, self._memarg(info))])

    # -- statements

    def stmt(self, depth: int) -> Code:
        """Code leaving nothing on the stack."""
        if self._spent:
            return self._set(0)
        form = self._weighted(self.profile.stmt_forms)
        return self._stmt_forms[form](max(depth, 0))

    def _set(self, depth: int) -> Code:
        vtype = self.c.pick(NUM_TYPES)
        return self.expr(vtype, depth) + self._emit([(O.LOCAL_SET, self.c.pick(self._locals_of(vtype)))])

    def _global_set(self, depth: int) -> Code:
        mutable = [i for i, (_, mut) in enumerate(self.env.globals) if mut]
        index = self.c.pick(mutable)
        return self.expr(self.env.globals[index][0], depth) + self._emit([(O.GLOBAL_SET, index)])

    def _store(self, depth: int) -> Code:
        info = self.c.pick(STORES)
        assert info.pops is not None
        code = self._address(info.width, depth) + self.expr(info.pops[1], depth)
        return code + self._emit([(info.op, self._memarg(info))])

    def _drop(self, depth: int) -> Code:
        return self.expr(self.c.pick(NUM_TYPES), depth) + self._emit([O.DROP])

    def _if_stmt(self, depth: int) -> Code:
        cond = self.expr(ValType.I32, depth)
        self.labels.append(())
        then = self.seq((), depth)
        other = self.seq((), depth) if self.c.chance(50) else None
        self.labels.pop()
        code = cond + self._emit([(O.IF, None)]) + then
        if other is not None:
            code += self._emit([O.ELSE]) + other
        return code + self._emit([O.END])

    def _block_stmt(self, depth: int) -> Code:
        self.labels.append(())
        body = self.seq((), depth)
        self.labels.pop()
        return self._emit([(O.BLOCK, None)]) + body + self._emit([O.END])

    def _counter(self) -> tuple[int, Code]:
        """A fresh loop counter local and the code setting it to a small count."""
        self.locals.append(ValType.I32)
        counter = len(self.locals) - 1
        self.counters.add(counter)
        return counter, self._emit([(O.I32_CONST, self.c.below(LOOP_LIMIT + 1)), (O.LOCAL_SET, counter)])

    def _counted_head(self, counter: int) -> Code:
        """``block loop (exit when the counter is 0) (decrement)``: the body that follows runs in the loop."""
        self.multiplier *= LOOP_LIMIT + 1
        self.labels += [(), ()]
        return self._emit([(O.BLOCK, None), (O.LOOP, None), (O.LOCAL_GET, counter), O.I32_EQZ, (O.BR_IF, 1),
                           (O.LOCAL_GET, counter), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_SET, counter)])

    def _loop_stmt(self, depth: int) -> Code:
        """``block loop (exit when the counter is 0) (decrement) statements br 0 end end``."""
        counter, init = self._counter()
        head = self._counted_head(counter)
        work: Code = []
        for _ in range(1 + self.c.below(3)):
            work += self.stmt(depth)
        tail = self._emit([(O.BR, 0), O.END, O.END])
        self.labels[-2:] = []
        self.multiplier //= LOOP_LIMIT + 1
        return init + head + work + tail

    def _target(self) -> int:
        """A random label depth that a branch may take."""
        return self.c.pick([d for d, t in enumerate(reversed(self.labels)) if t != NO_BRANCH])

    def _br_if_stmt(self, depth: int) -> Code:
        """Values for a random label, a condition, ``br_if``, and the values dropped when not taken."""
        target = self._target()
        types = self.labels[-1 - target]
        code: Code = []
        for vtype in types:
            code += self.expr(vtype, depth)
        code += self.expr(ValType.I32, depth) + self._emit([(O.BR_IF, target)])
        return code + self._emit([O.DROP] * len(types))

    def _call_stmt(self, depth: int) -> Code:
        callees = self._callees(None)
        if not callees:
            return self._set(depth)
        callee = self.c.pick(callees)
        self.cost += callee.cost * self.multiplier
        self.grows |= callee.grows
        code = self._args(callee, depth)
        return code + self._emit([(O.CALL, callee.index)] + [O.DROP] * len(callee.results))

    def _switch_stmt(self, depth: int) -> Code:
        """A C ``switch`` ladder: nested blocks, a ``br_table`` on a local, cases that read the local again.

        ``block (exit) block ... block  local.get x  br_table ... end case0 end case1 ... end``;
        every case stores something computed from ``x`` in a global, then leaves for the exit (or
        returns).
        """
        cases = 2 + self.c.below(4)
        index_local = self.c.pick(self._locals_of(ValType.I32))
        targets = self._table(list(range(cases + 1)))
        globals_i32 = [i for i, (t, mut) in enumerate(self.env.globals) if mut and t == ValType.I32]
        self.labels += [()] * (cases + 1)
        code = self._emit([(O.BLOCK, None)] * (cases + 1) + [(O.LOCAL_GET, index_local)])
        code += self._emit([(O.BR_TABLE, (targets, self.c.below(cases + 1))), O.END])
        for case in range(cases):
            self.labels.pop()
            code += self._emit([(O.LOCAL_GET, index_local), (O.I32_CONST, 1000 * (case + 1)), O.I32_ADD,
                                (O.GLOBAL_SET, self.c.pick(globals_i32))])
            if self.c.chance(50):
                code += self.stmt(depth)
            if self.c.chance(15):
                code += self._values(self.results, depth) + self._emit([O.RETURN])
            else:
                code += self._emit([(O.BR, cases - 1 - case)])
            code += self._emit([O.END])
        self.labels.pop()
        return code

    # -- leaving a block early

    def _branch_out(self, depth: int) -> Code:
        """An unconditional exit: ``br`` or ``br_table`` to random labels with their values, or ``return``."""
        roll = self.c.below(10)
        if roll < 2:
            return self._values(self.results, depth) + self._emit([O.RETURN])
        target = self._target()
        types = self.labels[-1 - target]
        if roll < 6:
            return self._values(types, depth) + self._emit([(O.BR, target)])
        same = [d for d, t in enumerate(reversed(self.labels)) if t == types]
        targets = self._table(same)
        index = self.expr(ValType.I32, depth)
        if self.c.chance(50):
            index += self._emit([(O.I32_CONST, len(targets) + 1), O.I32_REM_U])
        return self._values(types, depth) + index + self._emit([(O.BR_TABLE, (targets, self.c.pick(same)))])

    def _table(self, depths: list[int]) -> tuple[int, ...]:
        """A ``br_table`` label list over ``depths``: short and random, or long with runs (a switch)."""
        if self.c.chance(70):
            return tuple(self.c.pick(depths) for _ in range(self.c.below(5)))
        run = 1 + self.c.below(3)
        cycle = [self.c.pick(depths) for _ in range(1 + self.c.below(3))]
        return tuple(cycle[(i // run) % len(cycle)] for i in range(4 + self.c.below(37)))

    def _values(self, types: tuple[ValType, ...], depth: int) -> Code:
        code: Code = []
        for vtype in types:
            code += self.expr(vtype, depth)
        return code

    # -- growing memory (the profiles of :func:`growing`)

    def _grown_address(self, width: int, depth: int) -> Code:
        """An address in the last page of memory (the one a grow added last), rarely straddling or past the
        end; or a computed one anywhere up to past the maximum; or a constant past the first page."""
        roll = self.c.below(10)
        if roll < 5:  # memory.size * 64 KiB - k: in the last page (past a memarg's offset), rarely at the end
            back = self.c.pick([64, 64, 200, 4096, MEMORY_BYTES - 8, width, 0])
            return self._emit([O.MEMORY_SIZE, (O.I32_CONST, 16), O.I32_SHL, (O.I32_CONST, back), O.I32_SUB])
        if roll < 9:  # a computed page, one of the memory's or (rarely) up to the maximum, and an offset
            pages = [O.MEMORY_SIZE] if roll < 8 else [(O.I32_CONST, self.profile.max_pages + 1)]
            return self.expr(ValType.I32, depth) + self._emit(
                [*pages, O.I32_REM_U, (O.I32_CONST, 16), O.I32_SHL,
                 (O.I32_CONST, self.c.below(MEMORY_BYTES - 64)), O.I32_ADD])
        pages = self.profile.max_pages * MEMORY_BYTES
        return self._emit([(O.I32_CONST, MEMORY_BYTES + self.c.below(pages - MEMORY_BYTES + 64))])

    def _delta(self, depth: int) -> Code:
        """Pages to grow by: 0 to 2 (a constant or computed), rarely a count no memory grants."""
        roll = self.c.below(10)
        if roll < 6:
            return self._emit([(O.I32_CONST, self.c.pick([0, 1, 1, 2]))])
        if roll < 9:
            return self.expr(ValType.I32, depth) + self._emit([(O.I32_CONST, 3), O.I32_REM_U])
        return self._emit([(O.I32_CONST, self.c.pick([3, 0x1_0000, -1]))])

    def _grow(self, depth: int) -> Code:
        self.grows = True
        return self._delta(depth) + self._emit([O.MEMORY_GROW])

    def _grow_expr(self, vtype: ValType, depth: int) -> Code:
        """``memory.grow``'s result (the old size or -1) as a value of ``vtype``."""
        return self._grow(depth) + self._to_type(vtype)

    def _size_expr(self, vtype: ValType, depth: int) -> Code:
        return self._emit([O.MEMORY_SIZE]) + self._to_type(vtype)

    def _grow_stmt(self, depth: int) -> Code:
        """``memory.grow``, its result dropped or kept in a global."""
        code = self._grow(depth)
        globals_i32 = [i for i, (t, mut) in enumerate(self.env.globals) if mut and t == ValType.I32]
        if self.c.chance(50):
            return code + self._emit([(O.GLOBAL_SET, self.c.pick(globals_i32))])
        return code + self._emit([O.DROP])

    def _growing_call(self, depth: int) -> Code:
        """A call, direct or through the table, to a function that may grow memory (if there is one), its
        results dropped."""
        callees = self._callees(None)
        growers = [f for f in callees if f.grows]
        if not callees:
            return self._grow_stmt(depth)
        callee = self.c.pick(growers if growers and self.c.chance(85) else callees)
        self.cost += callee.cost * self.multiplier
        self.grows |= callee.grows
        code = self._args(callee, depth)
        if self.env.table_size and self.c.chance(35):
            type_index = self.env.builder.type(callee.params, callee.results)
            code += self._emit([(O.I32_CONST, callee.index), (O.CALL_INDIRECT, (type_index, 0))])
        else:
            code += self._emit([(O.CALL, callee.index)])
        return code + self._emit([O.DROP] * len(callee.results))

    def _after_call_expr(self, vtype: ValType, depth: int) -> Code:
        """A load, a call that may grow memory, a load after it (often near the end or in new pages), the
        loads combined (the first load may be folded into an expression with the second)."""
        info = self.c.pick(LOADS_BY_RESULT[vtype])
        before = self._address(info.width, depth) + self._emit([(info.op, self._memarg(info))])
        call = self._growing_call(depth)
        info = self.c.pick(LOADS_BY_RESULT[vtype])
        near_end = self.c.chance(50)
        address = (self._grown_address if near_end else self._address)(info.width, depth)
        after = address + self._emit([(info.op, self._memarg(info))])
        return before + call + after + self._combine(vtype)

    def _after_call_stmt(self, depth: int) -> Code:
        """A call that may grow memory, then a store (maybe in new pages)."""
        return self._growing_call(depth) + self._store(depth)

    # -- word locals (see :func:`with_words`)

    def _own_local(self, kept: list[int], most: int) -> int:
        """One of the i32 locals ``kept`` for a form of their own: a new one while there are few."""
        if len(kept) < most and (not kept or self.c.chance(30)):
            self.locals.append(ValType.I32)
            kept.append(len(self.locals) - 1)
        return self.c.pick(kept)

    def _word(self) -> int:
        return self._own_local(self.words, MAX_WORDS)

    def _word_load(self, depth: int) -> Code:
        address, memarg = self._word_address(depth), self._memarg(OPS[O.I32_LOAD])
        return address + self._emit([(O.I32_LOAD, memarg), (O.LOCAL_SET, self._word())])

    def _word_address(self, depth: int) -> Code:
        """Mostly an address in the module's random data (words of either sign), else any address."""
        if self.c.chance(70):
            return self._emit([(O.I32_CONST, self.c.below(DATA_BYTES - 4 - 33 + 1))])
        return self._address(4, depth)

    def _word_copy(self, depth: int) -> Code:
        return self._emit([(O.LOCAL_GET, self._word()), (O.LOCAL_SET, self._word())])

    def _word_const(self, depth: int) -> Code:
        return self._emit([const(ValType.I32, self.c.pick(_WORD_CONSTS)), (O.LOCAL_SET, self._word())])

    def _word_store(self, depth: int) -> Code:
        address, memarg = self._word_address(depth), self._memarg(OPS[O.I32_STORE])
        return address + self._emit([(O.LOCAL_GET, self._word()), (O.I32_STORE, memarg)])

    def _word_compare(self, vtype: ValType, depth: int) -> Code:
        """A comparison of a word with a word or a constant (``eqz`` of one), as a value of ``vtype``."""
        if self.c.chance(15):
            code = self._emit([(O.LOCAL_GET, self._word()), O.I32_EQZ])
        else:
            right = (O.LOCAL_GET, self._word()) if self.c.chance(70) else const(ValType.I32,
                                                                                self.c.pick(_WORD_CONSTS))
            code = self._emit([(O.LOCAL_GET, self._word()), right, self.c.pick(_WORD_COMPARES)])
        return code + self._to_type(vtype)

    def _word_leak(self, vtype: ValType, depth: int) -> Code:
        """A word used as any i32 value (which rules it out of the signed form), as a value of ``vtype``."""
        code = self._emit([(O.LOCAL_GET, self._word()), *self.c.pick(_WORD_LEAKS)])
        if vtype is ValType.I64 and self.c.chance(50):  # read as unsigned by the widening itself
            return code + self._emit([O.I64_EXTEND_I32_U])
        return code + self._to_type(vtype)

    # -- pointer locals (see :func:`with_pointers`)

    def _pointer(self) -> int:
        return self._own_local(self.pointers, MAX_POINTERS)

    def _pointer_value(self, depth: int) -> Code:
        """An aligned address (rarely an odd one): in memory, near its end, near 2**32, or computed."""
        roll = self.c.below(20)
        if roll < 8:
            return self._emit([(O.I32_CONST, self.c.below((MEMORY_BYTES - 256) // 8) * 8)])
        if roll < 10:
            return self._emit([(O.I32_CONST, MEMORY_BYTES - 8 * self.c.below(6))])
        if roll < 12:
            return self._emit([const(ValType.I32, self.c.pick(_EDGE_POINTERS))])
        if roll < 15:
            return self.expr(ValType.I32, depth) + self._emit([(O.I32_CONST, 0xFFF8), O.I32_AND])
        if roll < 17:
            shift = 2 + self.c.below(2)
            return (self.expr(ValType.I32, depth) + self._emit([(O.I32_CONST, 0x1FFF), O.I32_AND,
                                                                 (O.I32_CONST, shift), O.I32_SHL]))
        if roll < 19 and len(self.pointers) > 1:
            return self._emit([(O.LOCAL_GET, self.c.pick(self.pointers))])
        return self._emit([(O.I32_CONST, 8 * self.c.below(64) + self.c.pick([1, 2, 3, 5, 6]))])

    def _pointer_set(self, depth: int) -> Code:
        return self._pointer_value(depth) + self._emit([(O.LOCAL_SET, self._pointer())])

    def _pointer_step(self, pointer: int) -> Code:
        """``p = p + step`` (a negative step as an add of its two's complement, or as a subtraction)."""
        step = self.c.pick(_POINTER_STEPS)
        if step < 0 and self.c.chance(50):
            change = [(O.I32_CONST, -step), O.I32_SUB]
        else:
            change = [(O.I32_CONST, step), O.I32_ADD]
        return self._emit([(O.LOCAL_GET, pointer), *change, (O.LOCAL_SET, pointer)])

    def _pointer_address(self, pointer: int) -> Code:
        """The pointer, or the pointer plus or minus a small constant, as an access's address."""
        if self.c.chance(70):
            return self._emit([(O.LOCAL_GET, pointer)])
        delta = self.c.pick([4, 8, 16, -4, -8, 2])
        op = O.I32_SUB if delta < 0 and self.c.chance(50) else O.I32_ADD
        value = -delta if op is O.I32_SUB else delta
        return self._emit([(O.LOCAL_GET, pointer), (O.I32_CONST, value), op])

    def _pointer_access_memarg(self, op: Opcode) -> tuple[int, int]:
        return (self.c.below(OPS[op].align + 1), self.c.pick(_POINTER_OFFSETS))

    def _pointer_load(self, vtype: ValType, depth: int) -> Code:
        """A load of a ``vtype`` value through a pointer."""
        if not self.pointers:
            return self._const(vtype, depth)
        op = self.c.pick(_POINTER_LOADS[vtype])
        code = self._pointer_address(self.c.pick(self.pointers))
        return code + self._emit([(op, self._pointer_access_memarg(op))])

    def _pointer_store(self, depth: int) -> Code:
        """A store through a pointer of a generated value."""
        pointer = self._pointer()
        op = self.c.pick(_POINTER_STORES)
        info = OPS[op]
        assert info.pops is not None
        code = self._pointer_address(pointer) + self.expr(info.pops[1], depth)
        return code + self._emit([(op, self._pointer_access_memarg(op))])

    def _pointer_leak(self, vtype: ValType, depth: int) -> Code:
        """A pointer read as a number (which leaves it out of the index form if that happens often)."""
        code = self._emit([(O.LOCAL_GET, self._pointer()), *self.c.pick(_WORD_LEAKS)])
        if vtype is ValType.I64 and self.c.chance(50):
            return code + self._emit([O.I64_EXTEND_I32_U])
        return code + self._to_type(vtype)

    def _pointer_loop(self, depth: int) -> Code:
        """A counted loop stepping one or two pointers, loading and storing through them.

        ``block loop (exit when the counter is 0) (decrement) accesses and statements, the steps first
        or last, br_if 0 end end``:
        the branch back is a ``br_if`` on the counter, so the loop's last turn leaves from its tail, as
        compiled C loops do; a statement inside may also branch out.
        """
        counter, init = self._counter()
        first = self._pointer()
        stepped = [first] if len(self.pointers) < 2 or self.c.chance(50) else \
            [first, self.c.pick([p for p in self.pointers if p != first] or [first])]
        start = self._pointer_value(depth) + self._emit([(O.LOCAL_SET, first)]) if self.c.chance(60) else []
        head = self._counted_head(counter)
        work: Code = []
        for _ in range(1 + self.c.below(3)):
            roll = self.c.below(10)
            pointer = self.c.pick(stepped)
            if roll < 4:
                work += self._pointer_load(self.c.pick(NUM_TYPES), depth) + self._emit([O.DROP])
            elif roll < 6:
                op = self.c.pick(_POINTER_STORES)
                info = OPS[op]
                assert info.pops is not None
                work += self._pointer_address(pointer) + self.expr(info.pops[1], depth)
                work += self._emit([(op, self._pointer_access_memarg(op))])
            elif roll < 7:  # a load kept in a local: its value reaches the results
                vtype = self.c.pick(NUM_TYPES)
                work += self._pointer_load(vtype, depth) + self._emit([(O.LOCAL_SET,
                                                                        self.c.pick(self._locals_of(vtype)))])
            else:
                work += self.stmt(depth)
        for pointer in stepped:  # the steps first or last: a pointer is read before or after it moves
            moved = self._pointer_step(pointer)
            work = moved + work if self.c.chance(40) else work + moved
        tail = self._emit([(O.LOCAL_GET, counter), (O.BR_IF, 0), O.END, O.END])
        self.labels[-2:] = []
        self.multiplier //= LOOP_LIMIT + 1
        return start + init + head + work + tail
