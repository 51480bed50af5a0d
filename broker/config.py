"""What the broker core is given: its tunables (:class:`BrokerConfig`) and the judge of deployed modules.

The broker never imports the engine, so whoever starts it hands it a
:data:`Validator` (``wasmpool.Broker`` and the CLI hand it the engine's,
``wasmpool.worker.validate.module_error``); :func:`trust_deployer` is the
explicit choice of none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.deploy_policy import DEFAULT_DEPLOY_LIMITS, DeployLimits, DeployPolicy, floats_policy


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The broker's tunables, all with defaults."""

    limits: p.ProtocolLimits = p.DEFAULT_LIMITS
    max_queue: int = 10_000
    max_attempts: int = 8
    block_call_timeouts: int = 3  # a block call cut by its time limit this often fails its block
    exclusive_after: int = 2
    read_ahead: bool = True  # send a call's likely reads with its job (declared, learned: broker.ahead)
    default_gas: int = 10_000_000
    query_gas: int = 3_000_000  # a query's gas limit is at most this (as wasmd's default query gas limit)
    max_gas: int = 10_000_000_000
    default_timeout: float = 10.0
    max_timeout: float = 300.0
    grace: float = 5.0
    heartbeat_interval: float = 1.0
    liveness: int = 3
    dispatch_window: int = 64
    reply_cache: int = 10_000
    reply_cache_bytes: int = 64 * 1024 * 1024  # the kept replies together (broker.liveness.ReplyCache)
    reply_cache_entry: int = 1024 * 1024  # a larger reply is not kept in memory (receipts answer retries)
    max_inflight_bytes: int = 256 * 1024 * 1024  # accepted calls' bodies, queued or running, all clients
    max_client_bytes: int = 64 * 1024 * 1024  # the same, per client (its scope): one client cannot fill it
    validate_inline: int = 256 * 1024  # modules this big or bigger are validated off the loop (Validation)
    max_module: int = 16 * 1024 * 1024  # operator ceilings: see broker.limits
    max_input: int = 16 * 1024 * 1024
    max_args: int = 10_000
    block_chunks_per_worker: int = 4  # a block is cut into runs of consecutive calls, ~this many per worker
    max_losses: int = 3  # the poison-pill cap: a job that lost this many workers fails (WORKER_LOST)
    result_ttl: float = 3600.0  # how long a reply is kept for a retried request id
    receipt_purge: float = 60.0  # how often expired stored replies are purged
    # Fairness. A client's calls and queries may be held (running or prefetched) by at most this many
    # workers at once; 0 means all workers but one (at least one): one client can never take the whole
    # pool, and another client always finds a worker. Counted in workers, not jobs, because prefetch
    # credits would otherwise let a client's few jobs sit on every worker. See BrokerCore._pick_job.
    max_client_workers: int = 0
    # While a block runs, a queued call that may run (its contract is not the block's) waits at most
    # about this many seconds for a worker: then the next freed worker goes to the calls, not the block.
    max_block_hold: float = 1.0
    # The float policy in force: "canonical" (float code is accepted and run with canonical NaNs) or
    # "reject" (a module with any float instruction or float type is refused at deploy). Stamped into
    # results; modules deployed before a switch to "reject" stay callable.
    floats: str = "canonical"
    # What a deployed module may be (wasmpool.wire.deploy_policy): its shape's limits. With ``floats``
    # they make the deploy policy the engine's validator enforces (``deploy_policy()``) and stats report.
    deploy_limits: DeployLimits = DEFAULT_DEPLOY_LIMITS
    # Modules every worker keeps compiled in memory, outside its LRU (``--pin``): pinned at start like
    # ``wasmpool pin`` (each must be deployed), recorded in the store with the pins made since.
    pinned: tuple[str, ...] = ()
    # A module newly deployed is compiled ahead of its first call (as CosmWasm and NEAR compile at
    # deploy): one worker, idle if any, is asked to load it between jobs (a HEARTBEAT's ``warm``), and
    # its cache report then routes the first call to it. ``--no-compile-on-deploy`` turns this off.
    compile_on_deploy: bool = True

    def __post_init__(self) -> None:
        floats_policy(self.floats)  # a misspelt policy fails here, not at the first deploy

    def deploy_policy(self) -> DeployPolicy:
        """The deploy policy in force: the float policy and the deploy limits."""
        return DeployPolicy(self.deploy_limits, floats_policy(self.floats))


Verdict: TypeAlias = "str | errors.InvalidModule | None"
"""A validator's answer: None (valid), a reason (wrapped in InvalidModule), or a typed InvalidModule."""

Validator: TypeAlias = Callable[[bytes], Verdict]
"""Why a deployed module is invalid, or None when it is valid.

Either the reason the client is told (it gets an ``InvalidModule``) or a
typed refusal (``ModuleLimitExceeded``, ``FloatsRejected``), which must
pickle. A module-level function, or a ``functools.partial`` of one over
picklable arguments, so that the server can run it in a spawned process for
big modules (it is pickled by name).
"""


def trust_deployer(module: bytes) -> str | None:
    """The validator that accepts any bytes: for a broker whose deployers are trusted to send valid modules.

    An explicit choice, never a default: a worker then finds a bad module
    only when a call loads it (and answers that call with an error).
    """
    return None
