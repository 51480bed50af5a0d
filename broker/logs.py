"""Structured logs: one line per event, as JSON or as ``key=value`` pairs.

Theory of operation. Code that has something to say calls :func:`event` with
an event name, the request id it is about (if any) and a few fields::

    logs.event(log, "answered", rid, status="ok", latency_ms=3.1)

which becomes a standard :mod:`logging` record under the ``wasmpool``
logger hierarchy, carrying the fields in ``record.fields``. Nothing is
formatted unless the logger is enabled for the level, so a quiet broker
pays one level check per event. :func:`setup` installs one handler with a
:class:`JsonFormatter` (one JSON object per line, for log collectors) or a
:class:`KeyValueFormatter` (``logfmt``-style, for people); both put the
time, level, logger, event and the request id first, so every line about a
request can be found with one ``grep rid=<hex>``. Request ids are binary on
the wire and appear as hex in logs, as clients print them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TextIO

ROOT = "wasmpool"
FIELDS_ATTR = "fields"


class LogFormat(StrEnum):
    """How a line looks."""

    JSON = "json"
    KV = "kv"


LEVELS: dict[str, int] = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                          "error": logging.ERROR}


def get_logger(name: str) -> logging.Logger:
    """The logger ``wasmpool.NAME``."""
    return logging.getLogger(f"{ROOT}.{name}")


def event(logger: logging.Logger, name: str, request_id: bytes | None = None, *,
          level: int = logging.INFO, **fields: Any) -> None:
    """Log ``name`` about ``request_id`` (if any) with ``fields`` (None ones omitted); cheap when off."""
    if not logger.isEnabledFor(level):
        return
    data: dict[str, Any] = {"event": name}
    if request_id is not None:
        data["rid"] = request_id.hex()
    data.update((k, v) for k, v in fields.items() if v is not None)  # absent fields are left out
    logger.log(level, name, extra={FIELDS_ATTR: data})


def _base(record: logging.LogRecord) -> dict[str, Any]:
    """The leading fields of every line: time (UTC, ISO 8601), level, logger, then the event's fields."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    data: dict[str, Any] = {"ts": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname.lower(),
                            "logger": record.name}
    fields: Mapping[str, Any] | None = getattr(record, FIELDS_ATTR, None)
    if fields is None:  # a plain logging call: its message is the event
        data["event"] = "message"
        data["message"] = record.getMessage()
    else:
        data.update(fields)
    if record.exc_info:
        data["exception"] = logging.Formatter().formatException(record.exc_info)
    return data


def _plain(value: Any) -> Any:
    """A value JSON can hold: bytes as hex, other unknowns as their text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({k: _plain(v) for k, v in _base(record).items()}, separators=(",", ":"))


class KeyValueFormatter(logging.Formatter):
    """``key=value`` pairs separated by spaces; values with spaces or quotes are JSON-quoted."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_kv_value(_plain(v))}" for k, v in _base(record).items())


def _kv_value(value: Any) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    LogFormat.JSON: JsonFormatter,
    LogFormat.KV: KeyValueFormatter,
}


def setup(fmt: LogFormat | str = LogFormat.KV, level: int | str = logging.INFO,
          stream: TextIO | None = None) -> logging.Handler:
    """Send the ``wasmpool`` loggers' records at ``level`` and above to ``stream`` (stderr) as ``fmt``.

    Replaces a handler an earlier call installed; returns the new one.
    """
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, "_wasmpool", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[LogFormat(fmt)]())
    handler._wasmpool = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(LEVELS[level] if isinstance(level, str) else level)
    logger.propagate = False
    return handler
