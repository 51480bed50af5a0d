"""What the broker core hands back to the loop that runs it: messages to send, and deploys to validate.

:class:`~wasmpool.broker.core.BrokerCore` never touches a socket: each event
returns :class:`Outgoing` messages (which ROUTER, which peer, the frames),
and a deploy of a big module becomes a :class:`Validation` the server runs
off its loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple


class Side(IntEnum):
    """Which ROUTER socket a message goes out on."""

    FRONTEND = 0
    BACKEND = 1


class Outgoing(NamedTuple):
    """A message to send: socket side, ROUTER identity, the four frames."""

    side: Side
    identity: bytes
    frames: list[bytes]


@dataclass(eq=False, slots=True)
class Validation:
    """A deploy waiting for its module's validation, which runs off the broker's loop."""

    identity: bytes  # the client's latest connection (a retry moves it)
    key: bytes
    request_id: bytes
    module: bytes
    code_id: str
