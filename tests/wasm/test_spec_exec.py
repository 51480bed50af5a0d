"""Every execution command of the WebAssembly 2.0 core spec suite on every variant, one pytest case each.

Each case checks its command on the plain and on the metered compiled code
(production always runs metered code), each with the spec's float semantics
and with canonical NaNs (``canonical_nans=True``, what the pool runs); a
failure names the variant. The
commands of a script depend on each other (the current module, registered
modules), so :class:`~tests.wasm.spec_runner.SuiteResults` runs each script
once per variant, when its first case asks, and every case then just looks
up its own verdicts: the first case of a script carries the script's run
time, the rest are nearly free. (One case per command, not per command and
variant: the engine runs the whole suite in seconds, and pytest's cost per
case is most of the time.) Run one script with ``-k SCRIPT`` (e.g. ``-k i32:``
for ``i32`` alone), or outside pytest with ``python -m tests.wasm.spec_runner``
(``--variant`` picks one).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.wasm.spec_cases import SpecCommand, params
from tests.wasm.spec_runner import EXEC_COMMANDS, SuiteResults, Variant


@pytest.fixture(scope="session")
def spec_results(spec_data: Path) -> SuiteResults:
    """The verdicts of every script run so far in this session."""
    return SuiteResults()


@pytest.mark.spec
@pytest.mark.parametrize("command", params(*EXEC_COMMANDS))
def test_spec_command(command: SpecCommand, spec_results: SuiteResults) -> None:
    failures = [f"{variant}: {outcome.message}" for variant in Variant
                if not (outcome := spec_results.outcome(command, variant)).passed]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
