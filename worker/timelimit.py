"""A call's time limit: SIGALRM raises :class:`~wasmpool.wire.errors.CallTimeout` inside the running call.

The engine compiles a contract to Python, so a signal handler's exception
surfaces in the contract's own code wherever it is. Signals reach only the
main thread, which is where a worker process runs its jobs; elsewhere (a
test calling the worker in a thread) a call simply has no time limit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from wasmpool.wire import errors

ITIMER_REAL = signal.ITIMER_REAL
setitimer = signal.setitimer
MAIN_THREAD = threading.main_thread()
_alarm_installed = False


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise errors.CallTimeout("the call exceeded its time limit")


def install_alarm() -> None:
    """Make SIGALRM raise CallTimeout (once per worker process, from its main thread)."""
    global _alarm_installed
    signal.signal(signal.SIGALRM, _alarm)
    _alarm_installed = True


def alarm_ready() -> bool:
    """True when a call's time limit can be enforced here: :func:`install_alarm` ran, in the main thread."""
    return _alarm_installed and threading.current_thread() is MAIN_THREAD


def arm(seconds: float) -> None:
    """CallTimeout in ``seconds`` (0 disarms)."""
    setitimer(ITIMER_REAL, seconds)
