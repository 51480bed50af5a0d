"""Blocks: an ordered batch of calls executed in parallel with the results of serial execution.

The core is Block-STM (Gelashvili et al., 2022) as plain, socket-free objects:

- :mod:`wasmpool.broker.blocks.mvmemory` -- the multi-version memory: every call's
  writes by transaction index and incarnation, ESTIMATE markers, reads and
  read-set validation.
- :mod:`wasmpool.broker.blocks.scheduler` -- the collaborative scheduler: execution and
  validation indices, incarnations, dependencies, done detection, lost tasks.
- :mod:`wasmpool.broker.blocks.executor` -- :class:`BlockRun`, the coordinator a broker
  drives with four events (next task, read, finish, lost), the serial
  reference and an in-process driver with simulated workers.
- :mod:`wasmpool.broker.blocks.commit` -- the rolling commit: receipts and the state
  root built as calls become final, while later calls still run.
- :mod:`wasmpool.wire.receipts` -- calls, outcomes, receipts and the block
  result, with a deterministic msgpack encoding.
- :mod:`wasmpool.broker.blocks.state_root` -- the state root: a compact binary Merkle
  trie over hashed (contract, key), updated incrementally per block.
"""

from wasmpool.broker.blocks.commit import RollingCommit
from wasmpool.broker.blocks.executor import (
    BlockRun,
    BlockStats,
    Execute,
    SerialView,
    TaskAborted,
    View,
    execute_block,
    is_abort,
    run_block,
    run_serial,
)
from wasmpool.broker.blocks.mvmemory import Location, MVMemory, Storage, Value, Version
from wasmpool.broker.blocks.scheduler import Scheduler, Task, TaskKind, TxStatus
from wasmpool.broker.blocks.state_root import EMPTY_ROOT, StateTree, compute_root

from wasmpool.wire.receipts import BlockCall, BlockResult, Outcome, Receipt

__all__ = [
    "EMPTY_ROOT",
    "BlockCall",
    "BlockResult",
    "BlockRun",
    "BlockStats",
    "Execute",
    "Location",
    "MVMemory",
    "Outcome",
    "Receipt",
    "RollingCommit",
    "Scheduler",
    "SerialView",
    "StateTree",
    "Storage",
    "Task",
    "TaskAborted",
    "TaskKind",
    "TxStatus",
    "Value",
    "Version",
    "View",
    "compute_root",
    "execute_block",
    "is_abort",
    "run_block",
    "run_serial",
]
