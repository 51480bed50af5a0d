"""The prices of bringing code into the pool: what a deploy and a call's module load cost in gas.

They live in the wire layer because both sides charge them: the broker
prices a deploy (it never imports the engine) and the worker charges every
call the load price of its module before instantiating it. Both are per
byte of the module as deployed, so they are the same on every node and do
not depend on what any cache holds. They are part of the gas schedule
(``wasmpool.worker.versions.gas_schedule``): changing one means bumping
``GAS_SCHEDULE_VERSION``. The figures are calibrated by
``bench/engine/deploy_cost.py`` (see docs/gas.md, "Deploy and load").
"""

from __future__ import annotations

DEPLOY_BASE_GAS = 25_000
"""Charged for every deploy: what a minimal module costs to decode twice and compile (about 0.4 ms)."""
DEPLOY_BYTE_GAS = 1_300
"""Per byte deployed: decoding and validating it (broker), decoding and compiling it (worker): ~20 µs/byte."""
LOAD_BASE_GAS = 0
"""Charged to every call for its module, before instantiation (its fixed part is instantiation's)."""
LOAD_BYTE_GAS = 4
"""Per byte of the call's module, charged to every call whether the worker had it cached or not:
what loading it from a compiled-code cache costs (~0.07 µs/byte)."""

DEFAULT_DEPLOY_MODULE = 16 * 1024 * 1024
"""The biggest module the broker's default deploy size limit (``max_module``) admits."""


def deploy_gas(size: int) -> int:
    """The gas a deploy of a ``size``-byte module costs."""
    return DEPLOY_BASE_GAS + DEPLOY_BYTE_GAS * size


DEFAULT_DEPLOY_GAS_LIMIT = deploy_gas(DEFAULT_DEPLOY_MODULE)
"""A deploy's gas limit when it names none: enough for the biggest module the default size limit admits."""


def load_gas(size: int) -> int:
    """The gas a call pays to bring its ``size``-byte module into the call."""
    return LOAD_BASE_GAS + LOAD_BYTE_GAS * size


def deploy_prices() -> dict[str, int]:
    """The prices of this module under stable names, for the gas-schedule digest."""
    return {
        "deploy.base": DEPLOY_BASE_GAS,
        "deploy.byte": DEPLOY_BYTE_GAS,
        "load.base": LOAD_BASE_GAS,
        "load.byte": LOAD_BYTE_GAS,
    }
