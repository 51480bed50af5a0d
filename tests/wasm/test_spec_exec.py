"""Every execution command of the WebAssembly 2.0 core spec suite, one pytest case each.

The commands of a script depend on each other (the current module, registered
modules), so :class:`~tests.wasm.spec_runner.SuiteResults` runs each script
once, when its first case asks, and every case then just looks up its own
verdict: the first case of a script carries the script's run time, the rest
are nearly free. Run one script with ``-k SCRIPT`` (e.g. ``-k i32:`` for
``i32`` alone), or outside pytest with ``python -m tests.wasm.spec_runner``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.wasm.spec_cases import SpecCommand, params
from tests.wasm.spec_runner import EXEC_COMMANDS, SuiteResults


@pytest.fixture(scope="session")
def spec_results(spec_data: Path) -> SuiteResults:
    """The verdicts of every script run so far in this session."""
    return SuiteResults()


@pytest.mark.spec
@pytest.mark.parametrize("command", params(*EXEC_COMMANDS))
def test_spec_command(command: SpecCommand, spec_results: SuiteResults) -> None:
    outcome = spec_results.outcome(command)
    if not outcome.passed:
        pytest.fail(outcome.message, pytrace=False)
