"""The spec suite's validation verdicts, one pytest case per command.

Every ``assert_invalid`` module (binary) must be rejected with exactly
``ValidationError``: being rejected as malformed (``DecodeError``) would mean
the decoder refuses something well-formed. Every ``module`` command's binary
(wast2json writes them all as binaries, without a ``module_type``) must
decode and validate, and the validator must describe each of its bodies.
"""

from __future__ import annotations

import pytest

from tests.wasm.spec_cases import SpecCommand, params
from wasmpool.wasm import ValidationError, decode

pytestmark = pytest.mark.spec


@pytest.mark.parametrize("cmd", params("assert_invalid", module_type="binary"))
def test_assert_invalid_is_a_validation_error(cmd: SpecCommand) -> None:
    with pytest.raises(ValidationError) as info:
        decode(cmd.module_bytes())
    assert type(info.value) is ValidationError, f"expected {cmd.command['text']!r}"


@pytest.mark.parametrize("cmd", params("module"))
def test_module_validates(cmd: SpecCommand) -> None:
    module = decode(cmd.module_bytes())
    assert len(module.code_info) == len(module.funcs)
    for func, info in zip(module.funcs, module.code_info, strict=True):
        assert len(info.heights) == len(func.body)
        assert info.max_height == max(info.heights)
