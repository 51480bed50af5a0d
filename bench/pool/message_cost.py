"""What the typed wire messages cost per call, against the dict literals they replace.

Three bodies are built or read for every call: the client's REQUEST
(:class:`CallRequest`), the broker's job (:class:`Job`) and the worker's
result (:class:`CallResult`). For each, this times building the body
(``to_body`` on a fresh message, or the ``body`` builder that makes no
message, against the literal the pool wrote before)
and reading a decoded one (``from_body``, which checks it against the
schema, against ``check_fields`` alone, which the pool did before; and
``from_checked``, for a body ``decode_worker``/``decode_broker`` checked
already). Each figure is the best of ``--repeat`` runs of ``--number``
iterations, in nanoseconds per operation.

Run from the repository root: ``.venv/bin/python bench/pool/message_cost.py``.
Not a test: figures depend on the machine (and on how busy it is).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool.wire import messages as m  # noqa: E402
from wasmpool.wire import protocol as p  # noqa: E402
from wasmpool.wire.protocol import ErrorCode, Op, Status  # noqa: E402

CODE_ID = "ab" * 32
CONTEXT = {"caller": b"alice"}


def old_call_body() -> dict[str, Any]:
    """The client's call body as it was built before (optional fields filtered from a map)."""
    body: dict[str, Any] = {"op": Op.CALL, "code_id": CODE_ID, "function": "transfer", "args": [1]}
    optional = {"input": b"x", "context": dict(CONTEXT), "gas_limit": None, "timeout": None}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def new_call_body() -> dict[str, Any]:
    return m.CallRequest(Op.CALL, CODE_ID, "transfer", [1], b"x", dict(CONTEXT)).to_body()


def call_request_body() -> dict[str, Any]:
    return m.CallRequest.body(Op.CALL, CODE_ID, "transfer", [1], b"x", dict(CONTEXT))


def old_job() -> dict[str, Any]:
    return {"code_id": CODE_ID, "function": "transfer", "args": [1], "input": b"x", "context": CONTEXT,
            "gas_limit": 1000, "timeout": 2.0, "readonly": False}


def new_job() -> dict[str, Any]:
    return m.Job(code_id=CODE_ID, function="transfer", args=[1], input=b"x", context=CONTEXT,
                 gas_limit=1000, timeout=2.0, readonly=False).to_body()


def old_result() -> dict[str, Any]:
    return {"status": Status.OK, "code": ErrorCode.OK, "results": [1], "output": b"", "gas_used": 120,
            "logs": [], "writes": {b"k": b"v"}, "error": None}


def new_result() -> dict[str, Any]:
    return m.CallResult(Status.OK, ErrorCode.OK, [1], b"", 120, [], {b"k": b"v"}, None).to_body()


def job_body() -> dict[str, Any]:
    return m.Job.body(CODE_ID, "transfer", [1], b"x", CONTEXT, 1000, 2.0, False)


def result_body() -> dict[str, Any]:
    return m.CallResult.body(Status.OK, ErrorCode.OK, [1], b"", 120, [], {b"k": b"v"}, None)


CALL, JOB, RESULT = (p.unpack(p.pack(build())) for build in (old_call_body, old_job, old_result))

CASES: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    "build call request": (old_call_body, new_call_body),
    "build call request (CallRequest.body)": (old_call_body, call_request_body),
    "build job": (old_job, new_job),
    "build job (Job.body)": (old_job, job_body),
    "build call result": (old_result, new_result),
    "build call result (CallResult.body)": (old_result, result_body),
    "read call request (checked)": (lambda: p.check_fields(CALL, p.CLIENT_SCHEMAS[Op.CALL]),
                                    lambda: m.CallRequest.from_body(CALL)),
    "read job (checked)": (lambda: p.check_fields(JOB, p.JOB_FIELDS), lambda: m.Job.from_body(JOB)),
    "read call result (checked)": (lambda: p.check_fields(RESULT, p.RESULT_FIELDS),
                                   lambda: m.CallResult.from_body(RESULT)),
    "read job (already checked)": (lambda: JOB["readonly"], lambda: m.Job.from_checked(JOB)),
    "read call result (already checked)": (lambda: RESULT["status"],
                                           lambda: m.CallResult.from_checked(RESULT)),
}
"""Operation -> (what the pool did before, what it does with the messages)."""


def best(operation: Callable[[], object], number: int, repeat: int) -> float:
    """Nanoseconds per call of ``operation``: the best of ``repeat`` runs."""
    return min(timeit.repeat(operation, number=number, repeat=repeat)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{'operation':38} {'before ns':>10} {'messages ns':>12} {'extra ns':>9}")
    for name, (before, after) in CASES.items():
        old, new = best(before, args.number, args.repeat), best(after, args.number, args.repeat)
        print(f"{name:38} {old:10.0f} {new:12.0f} {new - old:9.0f}")


if __name__ == "__main__":
    main()
