"""The rolling commit: a block's receipts and state root built as its calls become final.

A block's result -- one receipt per call, the combined write set and the
state root after it -- depends only on the final outcomes, in block order.
Built after the last call finished, it is pure waiting time for every
worker: at a thousand calls the state-tree update alone takes longer than
a tenth of the block. :class:`RollingCommit` takes the outcomes one by one
as :meth:`~wasmpool.broker.blocks.BlockRun.advance_final` declares them final, while
later calls still run, and folds their writes into the state tree in
batches of ``fold`` locations (a batch rehashes the shared upper part of
the trie once, so batches are cheaper per key than single writes).

The result is the one :meth:`BlockResult.build` gives from the same
outcomes: the write set keeps, per location, the value of its last ok
writer (serial semantics), and the trie's root depends only on the final
entries, never on how the writes were grouped.
"""

from __future__ import annotations

from wasmpool.broker.blocks.mvmemory import Location, Value
from wasmpool.broker.blocks.state_root import StateTree
from wasmpool.wire.receipts import BlockResult, Outcome, Receipt, sorted_writes

FOLD_LOCATIONS = 256
"""Written locations gathered before they are folded into the state tree (one batch)."""


class RollingCommit:
    """A block's result built from its final outcomes as they come, over the state tree before it."""

    def __init__(self, tree: StateTree, fold: int = FOLD_LOCATIONS) -> None:
        self.tree = tree  # the state tree with every folded write applied
        self.receipts: list[Receipt] = []
        self.writes: dict[Location, Value] = {}  # the block's combined write set so far
        self._unfolded: dict[Location, Value] = {}
        self._fold = max(1, fold)

    def __len__(self) -> int:
        """How many calls have been taken: the next outcome is call ``len(self)``'s."""
        return len(self.receipts)

    def add(self, outcome: Outcome) -> None:
        """The final outcome of the next call in block order (cheap: folding is :meth:`fold`'s)."""
        self.receipts.append(Receipt.from_outcome(len(self.receipts), outcome))
        writes = outcome.effective_writes()
        if writes:
            self.writes.update(writes)
            self._unfolded.update(writes)

    def fold(self, force: bool = False) -> None:
        """Fold the gathered writes into the tree once a batch is full (or now, with ``force``)."""
        if self._unfolded and (force or len(self._unfolded) >= self._fold):
            self.tree = self.tree.updated(self._unfolded)
            self._unfolded = {}

    def result(self, dry_run: bool = False) -> BlockResult:
        """The block's result once every call was added; :attr:`tree` is then the state after it."""
        self.fold(force=True)
        return BlockResult(tuple(self.receipts), sorted_writes(self.writes), self.tree.root, dry_run)
