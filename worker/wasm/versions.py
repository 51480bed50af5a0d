"""The engine's semantics version: what a result computed by this engine depends on.

``SEMANTICS_VERSION`` names the observable behaviour of the engine: the
results, traps and gas (the price table of :mod:`.prices`) that the same
module, inputs and options give. Two engines with the same version give
bit-identical results for the same call; any change to what a program can
observe (an instruction's result bits, a trap, where metering charges)
must bump it, so that nodes comparing receipts see that they ran different
rules instead of forking silently.
"""

from __future__ import annotations

SEMANTICS_VERSION = 1
"""Bump on any change a program can observe (results, traps, gas charge points)."""
