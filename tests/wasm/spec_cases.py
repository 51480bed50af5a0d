"""Enumerates the commands of the WebAssembly spec suite's JSON scripts.

Each command becomes one pytest case with a readable id
(``script:line:type``). SIMD scripts are out of scope and never listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPEC_SKIP_MESSAGE, spec_dir


@dataclass(frozen=True)
class SpecCommand:
    """One command of a script, with the directory its modules live in."""

    script: str
    index: int
    command: dict[str, Any]
    directory: Path

    @property
    def id(self) -> str:
        return f"{self.script}:{self.command.get('line', self.index)}:{self.command['type']}"

    def module_bytes(self) -> bytes:
        return (self.directory / self.command["filename"]).read_bytes()


def script_names() -> list[str]:
    """The non-SIMD scripts present in the spec data, sorted."""
    root = spec_dir()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("simd"))


def load_script(name: str) -> list[SpecCommand]:
    """Every command of one script, in order."""
    root = spec_dir()
    assert root is not None
    directory = root / name
    data = json.loads((directory / f"{name}.json").read_text())
    return [SpecCommand(name, i, cmd, directory) for i, cmd in enumerate(data["commands"])]


def iter_commands(*types: str, module_type: str | None = None) -> Iterator[SpecCommand]:
    """Commands of the given types across all scripts (optionally one module_type)."""
    for name in script_names():
        for cmd in load_script(name):
            if cmd.command["type"] not in types:
                continue
            if module_type is not None and cmd.command.get("module_type") != module_type:
                continue
            yield cmd


def params(*types: str, module_type: str | None = None) -> list[Any]:
    """pytest parameters for the commands, or one skipped case when the data is absent."""
    cases = [pytest.param(c, id=c.id) for c in iter_commands(*types, module_type=module_type)]
    if not cases:
        return [pytest.param(None, id="spec-data-missing", marks=pytest.mark.skip(reason=SPEC_SKIP_MESSAGE))]
    return cases
