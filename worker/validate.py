"""The engine's check of a deployed module: what the broker is handed to judge deploys.

The broker never imports the engine; whoever starts it passes a validator,
and :func:`module_error` is the engine's: the module's size, then the
engine's decoding and validation, then the deploy limits
(``wasmpool.worker.deploy_checks``), then, under the float policy
``reject``, the float scan (``wasmpool.worker.float_scan``). It is a
module-level function so a spawned process (the broker validates big modules
off its loop) can import it by name; another policy than the default is
handed over as ``functools.partial(module_error, policy=...)``, which pickles
too (the policy is a frozen dataclass), as do the typed refusals it returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.wire.deploy_policy import DEFAULT_DEPLOY_POLICY, DeployPolicy, Floats
from wasmpool.worker.deploy_checks import check_module, check_size
from wasmpool.worker.float_scan import reject_floats


def module_error(module: bytes,
                 policy: DeployPolicy = DEFAULT_DEPLOY_POLICY) -> str | errors.InvalidModule | None:
    """Why ``module`` may not be deployed under ``policy``, or None.

    A reason (str) when the engine cannot decode or validate it; a typed
    refusal (``ModuleLimitExceeded``, ``DeployRefused``, ``FloatsRejected``)
    when it breaks the deploy policy.
    """
    try:
        check_size(len(module), policy.limits)
    except errors.InvalidModule as refusal:
        return refusal
    try:
        decoded = wasm.decode(module)
    except Exception as exc:  # whatever the engine says about these bytes is the module's fault
        return str(exc) or type(exc).__name__
    try:
        check_module(decoded, policy.limits)
        if policy.floats is Floats.REJECT:
            reject_floats(decoded)
    except errors.InvalidModule as refusal:
        return refusal
    return None


def validator_for(policy: DeployPolicy) -> Callable[[bytes], str | errors.InvalidModule | None]:
    """The engine's validator enforcing ``policy``: :func:`module_error` itself for the default one."""
    if policy == DEFAULT_DEPLOY_POLICY:
        return module_error
    return functools.partial(module_error, policy=policy)
