"""How a worker process treats SIGINT and SIGTERM.

Worker processes ignore SIGINT: Ctrl-C reaches the whole process group, and
the parent (the supervisor) decides. The first SIGTERM lets the current job
finish, send its FINAL and DISCONNECT, and exit; a second one stops at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def handle_stop_signals(stop: Callable[[], None]) -> None:
    """In a worker process: ignore SIGINT; first SIGTERM calls ``stop`` (graceful), a second exits at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signalled: list[int] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if signalled:
            raise SystemExit(1)
        signalled.append(signum)
        stop()

    signal.signal(signal.SIGTERM, on_term)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM inside the body (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
