"""Pool metrics: plain counters and a latency histogram, Prometheus text, and an HTTP endpoint.

Theory of operation. The broker's core owns one :class:`Metrics` and bumps
it where a job ends: :meth:`Metrics.answered` records the status and the
latency (arrival to answer). Everything else a scrape shows is read from
the core's ``stats()`` at scrape time: queue length, in flight, workers,
cache hits and misses, and the core's counters (``requeued`` when a job
goes back to the queue, ``poison_pills`` when a job is given up because it
kept losing its workers, ``dropped`` and ``error_*`` for refused messages),
so there is exactly one source for each number.

``stats()`` carries :meth:`Metrics.snapshot` under ``"metrics"``, which makes
the ``stats`` request, ``wasmpool stats`` and the Prometheus endpoint three
views of one dictionary: :func:`render` turns a stats dictionary into the
Prometheus text exposition format (version 0.0.4), and
:class:`MetricsServer` serves it over HTTP (``GET /metrics``) from the
broker's own event loop, with no dependency. Operators who prefer the
official ``prometheus-client`` package (the ``metrics`` extra) can serve the
same families through it with :func:`start_prometheus_client`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "wasmpool"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the request latency histogram's buckets; +Inf is implied."""
REQUEST_LINE_LIMIT = 8192
READ_TIMEOUT = 5.0


class Counter:
    """A monotonically increasing count."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Histogram:
    """Counts of observations per bucket (cumulative when rendered), their sum and count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= it)`` for every bucket, +Inf last."""
        total, out = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class Metrics:
    """The broker's own metrics (what ``stats()`` cannot derive from current state)."""

    def __init__(self) -> None:
        self.latency = Histogram()
        self.jobs: dict[str, int] = {}  # finished jobs by status

    def answered(self, status: str, latency: float) -> None:
        """A job finished with ``status``, ``latency`` seconds after its request arrived."""
        self.jobs[status] = self.jobs.get(status, 0) + 1
        self.latency.observe(latency)

    def snapshot(self) -> dict[str, Any]:
        """Plain data for the ``stats`` reply (msgpack-able; bucket bounds as strings, +Inf included)."""
        return {
            "jobs": dict(self.jobs),
            "latency": {"buckets": [[_bound(b), n] for b, n in self.latency.cumulative()],
                        "sum": self.latency.sum, "count": self.latency.count},
        }


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(value)


# --- Prometheus text exposition -------------------------------------------------------------


class Kind(StrEnum):
    """Prometheus metric types."""

    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: name (without prefix), type, help, and its samples."""

    name: str
    kind: Kind
    help: str
    samples: tuple[tuple[str, Mapping[str, str], float], ...]  # (suffix, labels, value)


GAUGES = (  # stats key, metric name, help
    ("queue", "queue_length", "Requests waiting for a worker."),
    ("in_flight", "in_flight", "Jobs held by workers (running or waiting there, prefetched)."),
    ("workers", "workers_alive", "Registered worker processes."),
    ("idle", "workers_idle", "Registered workers without a job."),
    ("uptime", "uptime_seconds", "Seconds since the broker started."),
    ("inflight_bytes", "inflight_bytes", "Bodies of accepted calls not yet answered (max_inflight_bytes)."),
    ("reply_cache_bytes", "reply_cache_bytes", "Replies kept for retries (reply_cache_bytes)."),
)
COUNTERS = (
    ("cache_hits", "cache_hits_total", "Jobs whose module was in the worker's cache."),
    ("cache_misses", "cache_misses_total", "Jobs whose module had to be fetched and compiled."),
)
CORE_COUNTERS = (  # the core's own counters (stats["counters"]), kept where they are bumped
    ("requeued", "requeues_total", "Jobs put back on the queue after their worker died or left."),
    ("poison_pills", "poison_pill_failures_total", "Jobs given up because they kept killing workers."),
    ("storage_errors", "storage_errors_total", "Writes the state store failed (disk full, I/O error)."),
    ("client_limit_waits", "client_limit_waits_total",
     "Dispatches that passed over a client at its worker limit (max_client_workers)."),
    ("block_yields", "block_yields_total", "Idle workers a block left to overdue calls (max_block_hold)."),
    ("blocks_cut_by_time", "blocks_cut_by_time_total",
     "Blocks failed because a call reached its time limit block_call_timeouts times."),
)
GARBAGE_COUNTERS = {  # stats counter -> socket label, for messages refused as malformed
    "error_bad_frame": "frontend", "error_bad_body": "frontend", "error_too_large": "frontend",
    "error_unknown_command": "frontend", "error_bad_request": "frontend", "dropped": "backend",
}


def families(stats: Mapping[str, Any]) -> list[Family]:
    """Every metric family of a stats dictionary (as ``BrokerCore.stats()`` returns it)."""
    snapshot = stats.get("metrics", {})
    out = [Family(name, Kind.GAUGE, text, (("", {}, float(stats.get(key, 0))),))
           for key, name, text in GAUGES]
    out += [Family(name, Kind.COUNTER, text, (("", {}, float(stats.get(key, 0))),))
            for key, name, text in COUNTERS]
    counters = stats.get("counters", {})
    out += [Family(name, Kind.COUNTER, text, (("", {}, float(counters.get(key, 0))),))
            for key, name, text in CORE_COUNTERS]
    jobs = snapshot.get("jobs", {})
    out.append(Family("jobs_total", Kind.COUNTER, "Finished jobs by status.",
                      tuple(("", {"status": s}, float(n)) for s, n in sorted(jobs.items()))))
    out.append(_garbage(counters))
    out.append(_latency(snapshot.get("latency", {})))
    out += _tiers(stats.get("cache_tiers", {}))
    return out


TIERS = ("memory", "disk", "compile")
DISK_COUNTERS = (  # cache_tiers key, metric name, help
    ("disk_evictions", "disk_cache_evictions_total", "Disk cache entries deleted to stay in bound."),
    ("disk_corrupt", "disk_cache_corrupt_total", "Disk cache entries found damaged or foreign, and deleted."),
    ("disk_write_errors", "disk_cache_write_errors_total", "Disk cache writes that failed (disk full...)."),
)


def _tiers(tiers: Mapping[str, int]) -> list[Family]:
    """Module loads by tier and the workers' disk caches (``stats["cache_tiers"]``)."""
    out = [Family("module_loads_total", Kind.COUNTER,
                  "Modules a call needed, by where the worker found them: memory, disk or compiling.",
                  tuple(("", {"tier": tier}, float(tiers.get(tier, 0))) for tier in TIERS))]
    out.append(Family("modules_preloaded_total", Kind.COUNTER,
                      "Modules workers loaded from disk at their start, before a call asked for them.",
                      (("", {}, float(tiers.get("preloaded", 0))),)))
    out.append(Family("disk_cache_bytes", Kind.GAUGE, "Bytes of the workers' compiled-code cache on disk.",
                      (("", {}, float(tiers.get("disk_bytes", 0))),)))
    out += [Family(name, Kind.COUNTER, text, (("", {}, float(tiers.get(key, 0))),))
            for key, name, text in DISK_COUNTERS]
    return out


def _garbage(counters: Mapping[str, int]) -> Family:
    samples = tuple(("", {"socket": side, "reason": key.removeprefix("error_")}, float(counters.get(key, 0)))
                    for key, side in GARBAGE_COUNTERS.items())
    return Family("rejected_messages_total", Kind.COUNTER,
                  "Messages refused as malformed, oversized or invalid, by socket and reason.", samples)


def _latency(latency: Mapping[str, Any]) -> Family:
    buckets = latency.get("buckets") or [["+Inf", 0]]
    samples = [("_bucket", {"le": str(bound)}, float(count)) for bound, count in buckets]
    samples += [("_sum", {}, float(latency.get("sum", 0.0))), ("_count", {}, float(latency.get("count", 0)))]
    return Family("request_latency_seconds", Kind.HISTOGRAM,
                  "Seconds from a call's arrival at the broker to its answer.", tuple(samples))


def render(stats: Mapping[str, Any]) -> str:
    """The Prometheus text exposition (0.0.4) of a stats dictionary."""
    lines: list[str] = []
    for family in families(stats):
        name = f"{PREFIX}_{family.name}"
        lines.append(f"# HELP {name} {family.help}")
        lines.append(f"# TYPE {name} {family.kind}")
        lines.extend(f"{name}{suffix}{_labels(labels)} {_number(value)}"
                     for suffix, labels, value in family.samples)
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() else repr(value)


# --- HTTP endpoint -----------------------------------------------------------------------------


class MetricsServer:
    """A tiny HTTP/1.0 server answering ``GET /metrics`` with :func:`render` of ``collect()``.

    The listening socket is made by :meth:`bind` (so the port is known at
    once, even for port 0); :meth:`start` serves it from the running event
    loop, the broker's, so ``collect`` may read the core without locks.
    """

    def __init__(self, collect: Callable[[], Mapping[str, Any]], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.collect = collect
        self.host, self.port = host, port
        self._socket: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None

    def bind(self) -> int:
        """Open the listening socket; returns the bound port."""
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self.port))
                sock.listen(16)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._socket = sock
            self.port = sock.getsockname()[1]
        return self.port

    async def start(self) -> None:
        self.bind()
        self._server = await asyncio.start_server(self._handle, sock=self._socket)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._respond(reader), READ_TIMEOUT)
            head = (f"HTTP/1.0 {status}\r\nContent-Type: {CONTENT_TYPE}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + body)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away or sent junk gets nothing more
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[str, bytes]:
        request = await reader.readuntil(b"\r\n\r\n")
        if len(request) > REQUEST_LINE_LIMIT:
            return "431 Request Header Fields Too Large", b"request too large\n"
        method, _, rest = request.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"only GET\n"
        if path not in ("/metrics", "/"):
            return "404 Not Found", b"try /metrics\n"
        body = render(self.collect()).encode()
        return "200 OK", b"" if method == "HEAD" else body


# --- the official client, for those who prefer it ------------------------------------------


class MetricsUnavailable(Exception):
    """``prometheus-client`` is not installed (``pip install 'wasmpool[metrics]'``)."""


def require_prometheus_client() -> None:
    """Raise :class:`MetricsUnavailable` with an install hint unless ``prometheus_client`` imports."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        raise MetricsUnavailable("the prometheus-client exporter needs the package: "
                                 "pip install 'wasmpool[metrics]' (or use the built-in exporter)") from exc


def start_prometheus_client(fetch_text: Callable[[], str], host: str, port: int) -> object:
    """Serve the pool's families through ``prometheus_client`` on ``host:port``; returns its server.

    ``fetch_text`` returns the current exposition (:func:`render`), produced
    safely for the caller's threads; the collector re-parses it, so both
    exporters always publish the same families.
    """
    require_prometheus_client()
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.parser import text_string_to_metric_families

    class PoolCollector:
        def collect(self) -> Iterable[Any]:
            yield from text_string_to_metric_families(fetch_text())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PoolCollector())
    return start_http_server(port, addr=host, registry=registry)
