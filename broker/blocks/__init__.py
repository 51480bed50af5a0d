"""Blocks: an ordered batch of calls executed in parallel with the results of serial execution.

The core is Block-STM (Gelashvili et al., 2022) as plain, socket-free objects:

- :mod:`wasmpool.broker.blocks.mvmemory` -- the multi-version memory: every call's
  writes by transaction index and incarnation, ESTIMATE markers, reads and
  read-set validation.
- :mod:`wasmpool.broker.blocks.scheduler` -- the collaborative scheduler: execution and
  validation indices, incarnations, dependencies, done detection, lost tasks.
- :mod:`wasmpool.broker.blocks.executor` -- :class:`BlockRun`, the coordinator a broker
  drives with four events (next task, read, finish, lost).
- :mod:`wasmpool.broker.blocks.commit` -- the rolling commit: receipts and the state
  root built as calls become final, while later calls still run.
- :mod:`wasmpool.broker.blocks.coordinator` -- blocks in the broker: the client of
  the broker core that runs BLOCK requests on its workers (attached by the
  server, ``attach_blocks``).
- :mod:`wasmpool.wire.receipts` -- calls, outcomes, receipts and the block
  result, with a deterministic msgpack encoding (wire data: re-exported here).
- :mod:`wasmpool.broker.blocks.state_root` -- the state root: a compact binary Merkle
  trie over hashed (contract, key), updated incrementally per block.
"""

from wasmpool.broker.blocks.commit import RollingCommit
from wasmpool.broker.blocks.executor import BlockRun, BlockStats, TaskAborted
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
    "Location",
    "MVMemory",
    "Outcome",
    "Receipt",
    "RollingCommit",
    "Scheduler",
    "StateTree",
    "Storage",
    "Task",
    "TaskAborted",
    "TaskKind",
    "TxStatus",
    "Value",
    "Version",
    "compute_root",
]
