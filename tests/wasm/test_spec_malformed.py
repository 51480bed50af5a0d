"""The spec suite's binary modules against the decoder, one pytest case per command.

* every ``assert_malformed`` binary must raise :class:`DecodeError` (an
  invalid-but-well-formed verdict from the validator is not acceptable);
* its message should be the spec's, except where the reference interpreter
  words it differently because it reads across a function body's or a
  section's end while we stop at the boundary (listed in ``OTHER_WORDING``);
* every ``module`` binary must decode, and so must the well-formed modules
  of ``assert_invalid`` / ``assert_unlinkable`` / ``assert_uninstantiable``
  (the validator and the runtime test those; they need them decoded).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.wasm.spec_cases import SpecCommand, params
from wasmpool.wasm import DecodeError, Module, decode
from wasmpool.wasm.opcodes import Opcode

MALFORMED = params("assert_malformed", module_type="binary")

OTHER_WORDING: dict[str, str] = {
    # A body without its final end: the reference reads on into the next body or section.
    "binary:439:assert_malformed": "END opcode expected",
    "binary:455:assert_malformed": "END opcode expected",
    "binary:1817:assert_malformed": "END opcode expected",
    # A vector whose items run past the section end: we stop at the section boundary.
    "binary:1632:assert_malformed": "unexpected end of section or function",
    "binary-leb128:348:assert_malformed": "unexpected end of section or function",
}



@pytest.mark.spec
@pytest.mark.parametrize("command", MALFORMED)
def test_malformed_binary_is_rejected(command: SpecCommand) -> None:
    with pytest.raises(DecodeError):
        decode(command.module_bytes())


@pytest.mark.spec
@pytest.mark.parametrize("command", MALFORMED)
def test_malformed_binary_message(command: SpecCommand) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(command.module_bytes(), validate=False)
    expected = OTHER_WORDING.get(command.id, command.command["text"])
    assert caught.value.reason.startswith(expected)


def binary_modules() -> list[Any]:
    """``module`` commands whose module is a binary (wast2json may also write ``.wat`` ones)."""
    return [p for p in params("module")
            if not isinstance(p.values[0], SpecCommand) or p.values[0].command["filename"].endswith(".wasm")]


@pytest.mark.spec
@pytest.mark.parametrize("command", binary_modules())
def test_module_binary_decodes(command: SpecCommand) -> None:
    module = decode(command.module_bytes(), validate=False)
    assert isinstance(module, Module)
    for func in module.funcs:
        assert func.body[-1].op == Opcode.END
        offsets = [instr.offset for instr in func.body]
        assert offsets == sorted(offsets)
        assert func.offset <= offsets[0] and offsets[-1] < func.offset + func.size


@pytest.mark.spec
@pytest.mark.parametrize("command", params("assert_invalid", "assert_unlinkable", "assert_uninstantiable",
                                              module_type="binary"))
def test_well_formed_binary_decodes(command: SpecCommand) -> None:
    assert isinstance(decode(command.module_bytes(), validate=False), Module)
