"""Observability: the Prometheus endpoint, ``stats`` and structured logs, on a real pool.

A private broker with ``metrics_port=0`` and one worker process serves a
few calls of each outcome; the endpoint is scraped over loopback with
urllib before and after, and the numbers must move: jobs by status, the
latency histogram, cache hits and misses, queue length and in flight while
jobs wait, workers alive, refused garbage. Logs go to a string at INFO and
every line about a request must carry its request id.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from tests.pool.conftest import LOOPBACK, TEST_CONFIG, WORKER_START, unique
from wasmpool.broker import logs
from wasmpool.broker.metrics import CONTENT_TYPE, Histogram, render
from wasmpool.cli import main
from wasmpool.cli.client import format_stats
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers, stop_workers

pytestmark = pytest.mark.timeout(60)

SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Key = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Key, float]:
    """Samples of a text exposition; fails on any line that is neither a comment nor a sample."""
    samples: dict[Key, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    return samples.get((f"wasmpool_{name}", frozenset(labels.items())), 0.0)


# --- plain objects -----------------------------------------------------------------------------


@pytest.mark.parametrize(("observed", "bucket"), [(0.001, "0.001"), (0.0011, "0.0025"), (100.0, "+Inf")],
                         ids=["on-a-bound", "just-above", "beyond-all"])
def test_a_histogram_counts_into_the_first_bucket_at_or_above(observed: float, bucket: str) -> None:
    histogram = Histogram()
    histogram.observe(observed)
    cumulative = {("+Inf" if b == float("inf") else repr(b)): n for b, n in histogram.cumulative()}
    first = next(b for b, n in cumulative.items() if n)
    assert first == bucket and cumulative["+Inf"] == 1 and histogram.sum == observed


def test_render_is_the_text_format_with_help_and_type() -> None:
    text = render({"queue": 3, "workers": 2, "counters": {"requeued": 4, "dropped": 5},
                   "metrics": {"jobs": {"ok": 7}, "latency": {"buckets": [["0.5", 1], ["+Inf", 2]],
                                                             "sum": 1.5, "count": 2}}})
    samples = parse(text)
    assert value(samples, "queue_length") == 3 and value(samples, "workers_alive") == 2
    assert value(samples, "requeues_total") == 4 and value(samples, "jobs_total", status="ok") == 7
    assert value(samples, "rejected_messages_total", socket="backend", reason="dropped") == 5
    assert value(samples, "request_latency_seconds_bucket", le="+Inf") == 2
    assert "# TYPE wasmpool_request_latency_seconds histogram" in text
    assert "# TYPE wasmpool_jobs_total counter" in text and text.endswith("\n")


# --- a live pool ----------------------------------------------------------------------------------


class Metered:
    """A broker thread with the metrics endpoint and one worker process."""

    def __init__(self, thread: BrokerThread, workers: list[Any]) -> None:
        self.thread, self.workers = thread, workers
        assert thread.broker.metrics is not None
        self.url = f"http://127.0.0.1:{thread.broker.metrics.port}/metrics"

    def scrape(self) -> dict[Key, float]:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            assert response.headers["Content-Type"] == CONTENT_TYPE
            return parse(response.read().decode())


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    broker = Broker(f"sqlite:{tmp_path_factory.mktemp('metrics') / 'state.db'}", LOOPBACK, LOOPBACK,
                    config=TEST_CONFIG, metrics_port=0)
    with BrokerThread(broker) as thread:
        workers = start_workers(WorkerConfig(endpoint=thread.backend, heartbeat=0.2, prefetch=1), 1)
        try:
            made = Metered(thread, workers)
            deadline = time.monotonic() + WORKER_START
            while value(made.scrape(), "workers_alive") < 1:
                assert time.monotonic() < deadline, "the worker never registered"
                time.sleep(0.05)
            yield made
        finally:
            stop_workers(workers)


@pytest.fixture
def metered_client(metered: Metered) -> Iterator[Client]:
    with Client(metered.thread.frontend, timeout=20.0) as made:
        yield made


def test_the_numbers_move_with_calls(metered: Metered, metered_client: Client, probe_wasm: bytes) -> None:
    before = metered.scrape()
    probe = metered_client.deploy(unique(probe_wasm))
    assert metered_client.call(probe, "add", [1, 2]).ok
    assert metered_client.call(probe, "add", [3, 4]).ok  # same module, same worker: a cache hit
    assert metered_client.call(probe, "divide", [1, 0]).status == "trap"
    assert metered_client.call(probe, "spin", gas_limit=50_000).status == "out_of_gas"
    after = metered.scrape()
    for status, count in (("ok", 2), ("trap", 1), ("out_of_gas", 1)):
        assert value(after, "jobs_total", status=status) == value(before, "jobs_total", status=status) + count
    assert value(after, "request_latency_seconds_count") == value(before, "request_latency_seconds_count") + 4
    assert (value(after, "request_latency_seconds_bucket", le="+Inf")
            == value(after, "request_latency_seconds_count"))
    assert value(after, "request_latency_seconds_sum") > value(before, "request_latency_seconds_sum")
    assert value(after, "cache_misses_total") >= value(before, "cache_misses_total") + 1
    assert value(after, "cache_hits_total") >= value(before, "cache_hits_total") + 3
    assert value(after, "workers_alive") == 1 and value(after, "queue_length") == 0


def test_queue_length_and_in_flight_show_waiting_jobs(metered: Metered, metered_client: Client,
                                                     probe_wasm: bytes) -> None:
    probe = metered_client.deploy(unique(probe_wasm))
    body = {"op": "call", "code_id": probe, "function": "spin", "gas_limit": 10**9, "timeout": 0.4}
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.linger = 0
    try:
        dealer.connect(metered.thread.frontend)
        for rid in (b"q1", b"q2", b"q3"):
            dealer.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body))
        deadline = time.monotonic() + 10
        seen = metered.scrape()
        while value(seen, "queue_length") < 1:
            assert time.monotonic() < deadline, "the jobs never queued"
            seen = metered.scrape()
        # the worker runs one job and holds one more (its prefetch credit); the third waits in the queue
        assert value(seen, "in_flight") == 2 and value(seen, "workers_idle") == 0
        statuses = []
        for _ in range(3):
            assert dealer.poll(20_000), "no answer"
            message = p.decode_reply(dealer.recv_multipart())
            statuses.append(message.body["status"])
        assert statuses == ["timeout"] * 3
    finally:
        dealer.close(linger=0)
    after = metered.scrape()
    assert value(after, "queue_length") == 0 and value(after, "in_flight") == 0
    assert value(after, "jobs_total", status="timeout") >= 3


def test_garbage_is_counted(metered: Metered) -> None:
    before = metered.scrape()
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.linger = 0
    try:
        dealer.connect(metered.thread.frontend)
        dealer.send_multipart([b"not the protocol"])
        assert dealer.poll(5000)
        assert dealer.recv_multipart()[:2] == [p.CLIENT_TAG, bytes((Command.ERROR,))]  # no id to quote
    finally:
        dealer.close(linger=0)
    after = metered.scrape()
    key = {"socket": "frontend", "reason": "bad_frame"}
    rejected = "rejected_messages_total"
    assert value(after, rejected, **key) == value(before, rejected, **key) + 1


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nothing", 404), ("POST", "/metrics", 405)],
                         ids=["unknown-path", "post"])
def test_the_endpoint_refuses_other_requests(metered: Metered, method: str, path: str, status: int) -> None:
    request = urllib.request.Request(metered.url.replace("/metrics", path), method=method, data=None)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == status
    caught.value.close()


def test_stats_shows_the_same_metrics(metered: Metered, metered_client: Client, probe_wasm: bytes) -> None:
    probe = metered_client.deploy(unique(probe_wasm))
    assert metered_client.call(probe, "add", [1, 1]).ok
    stats = metered_client.stats()
    assert stats["metrics"]["jobs"]["ok"] >= 1 and stats["metrics"]["latency"]["count"] >= 1
    table = format_stats(stats)
    assert re.search(rf"jobs ok\s+{stats['metrics']['jobs']['ok']}\b", table)
    assert re.search(r"requeues\s+\d+", table) and re.search(r"poison-pill failures\s+\d+", table)
    assert re.search(r"mean latency\s+[\d.]+ ms", table)


# --- logs --------------------------------------------------------------------------------------------


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(logs.ROOT)
    saved = (logger.level, logger.propagate)
    handler = logs.setup(logs.LogFormat.JSON, "info", stream)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def test_every_log_line_about_a_request_has_its_id(metered: Metered, metered_client: Client,
                                                   probe_wasm: bytes, captured_logs: io.StringIO) -> None:
    probe = metered_client.deploy(unique(probe_wasm))
    rid = b"\x01log-me\xff"
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.linger = 0
    try:
        dealer.connect(metered.thread.frontend)
        body = {"op": "call", "code_id": probe, "function": "add", "args": [2, 2]}
        dealer.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body))
        assert dealer.poll(20_000)
        assert p.decode_reply(dealer.recv_multipart()).body["results"] == [4]
    finally:
        dealer.close(linger=0)
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    mine = [line for line in lines if line.get("rid") == rid.hex()]
    assert [line["event"] for line in mine] == ["request", "dispatched", "answered"]
    assert mine[-1]["status"] == "ok" and mine[0]["code_id"] == probe
    assert all({"ts", "level", "logger"} <= line.keys() for line in lines)


def test_key_value_lines_quote_what_needs_quoting() -> None:
    stream = io.StringIO()
    logger = logging.getLogger(f"{logs.ROOT}.kvtest")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logs.event(logger, "rejected", b"\xab\xcd", reason='bad "thing" here', empty=None)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert " event=rejected rid=abcd " in line and 'reason="bad \\"thing\\" here"' in line
    assert "empty=" not in line and line.startswith("ts=")


def test_the_official_exporter_needs_its_package(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("prometheus-client is installed")
    status = main(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                   "--state", "memory:", "--metrics-port", "0", "--metrics-exporter", "prometheus-client"])
    assert status == 2 and "pip install 'wasmpool[metrics]'" in capsys.readouterr().out
