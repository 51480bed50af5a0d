"""``wasmpool broker``'s deploy policy options: ``--floats`` and one ``--deploy-...`` option per deploy limit.

Options rather than a limits file: each limit is one flag generated from
:class:`~wasmpool.wire.deploy_policy.DeployLimits` (so a new limit gets its
flag and its ``--help`` line with no other change), they read like the
operator ceilings (``--max-module`` ...), and a service definition sets them
where it sets the others.
"""

from __future__ import annotations

import argparse
from typing import Any

from wasmpool.wire.deploy_policy import (
    DEFAULT_DEPLOY_LIMITS,
    NUMERIC_LIMITS,
    DeployLimits,
    Floats,
    limit_help,
)


def option(limit: str) -> str:
    """The command-line option of a deploy limit (``function_params`` -> ``--deploy-function-params``)."""
    return "--deploy-" + limit.replace("_", "-")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def add_deploy_options(parser: argparse.ArgumentParser) -> None:
    """``--floats`` and the deploy limits (BrokerConfig.floats and deploy_limits)."""
    group = parser.add_argument_group("deploy policy", "what a deployed module may be; a module that breaks "
                                      "a rule is refused with a typed error naming it")
    group.add_argument("--floats", choices=[str(f) for f in Floats], default=str(Floats.CANONICAL),
                       help="canonical: run float code with canonical NaNs (the same bits on every CPU); "
                       "reject: refuse at deploy any module with a float instruction or type "
                       "(modules already deployed stay callable) (default canonical)")
    for limit in NUMERIC_LIMITS:
        default = getattr(DEFAULT_DEPLOY_LIMITS, limit)
        group.add_argument(option(limit), dest=f"deploy_{limit}", type=_count, default=default, metavar="N",
                           help=f"the most {limit_help(limit)} (default {default})")
    group.add_argument("--deploy-memory-export", action=argparse.BooleanOptionalAction,
                       default=DEFAULT_DEPLOY_LIMITS.memory_export,
                       help=f"{limit_help('memory_export')} (default on)")


def deploy_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The BrokerConfig fields the deploy options set."""
    limits = DeployLimits(memory_export=args.deploy_memory_export,
                          **{limit: getattr(args, f"deploy_{limit}") for limit in NUMERIC_LIMITS})
    return {"floats": args.floats, "deploy_limits": limits}
