"""When a worker process should be replaced by a fresh one: after many jobs, or grown too large.

Leaks and fragmentation from many contracts cannot accumulate: the process
stops itself (:func:`worn_out` says why) and its supervisor starts another.
"""

from __future__ import annotations

import os

from wasmpool.worker.config import WorkerConfig

MIB = 1024 * 1024
STATM = "/proc/self/statm"


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open(STATM, encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MIB
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worn_out(config: WorkerConfig, jobs_done: int) -> str | None:
    """Why a worker process should be replaced now (None: it should not)."""
    if config.max_jobs and jobs_done >= config.max_jobs:
        return f"served {jobs_done} jobs (max {config.max_jobs})"
    if config.max_memory_mb:
        size = resident_mb()
        if size > config.max_memory_mb:
            return f"resident memory {size:.0f} MiB exceeds {config.max_memory_mb} MiB"
    return None
