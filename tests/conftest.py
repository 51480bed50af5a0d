"""Shared fixtures: the spec suite's location, a default per-test timeout, the engine's process settings.

The timeout itself is set in ``pyproject.toml`` (``timeout = 120``) so that
every test has one; tests that need less or more override it with
``@pytest.mark.timeout``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import wasmpool.wasm as wasm

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPEC_ENV = "WASMPOOL_SPEC_DIR"
SPEC_SKIP_MESSAGE = (
    f"WebAssembly spec suite data not found: set {SPEC_ENV} to a directory of wast2json output "
    "(see tests/README.md)"
)


def spec_dir() -> Path | None:
    """``$WASMPOOL_SPEC_DIR`` if set, else ``../shared/spec/json`` beside the repository."""
    env = os.environ.get(SPEC_ENV)
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "spec" / "json"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def spec_data() -> Path:
    """The spec suite's JSON directory; skips the test when it is absent."""
    path = spec_dir()
    if path is None:
        pytest.skip(SPEC_SKIP_MESSAGE)
    return path


@pytest.fixture(scope="session", autouse=True)
def engine_process() -> None:
    """The test process runs wasm, so it sets what the engine needs of a process once, as a worker does."""
    wasm.prepare_process()
