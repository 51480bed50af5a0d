"""Lazily compiled modules in the disk cache: partial entries, real files and a real second process.

A module with more code than the engine compiles eagerly is stored with
the functions compiled so far and its bytes; the entry is stored again
between jobs as more functions compile (and takes in what another worker
stored meanwhile). A fresh process loads it, runs the stored functions
without compiling and compiles any other from the stored bytes, with the
results, gas and code of a module compiled now. A damaged entry, or one
whose bytes are not its module's, is never run.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pool import lazy_module
from wasmpool import wasm
from wasmpool.wasm.serialize import PartialModule, dump_module, slim_module
from wasmpool.wire import protocol as p
from wasmpool.worker.diskcache import check_directory
from wasmpool.worker.modules import load
from wasmpool.worker.tiers import SIZE, DiskTier, Loader
from wasmpool.worker.versions import cache_key
from wasmpool.worker.warmup import prime

ROOT = Path(__file__).resolve().parents[2]
STORED = ("e0", "e1")  # run before the entry is stored again: e0, e1, h0, h1, h2 compiled
LATER = ("e0", "e150", "e299")  # e150 and e299 (and their helpers) never compiled before storing


@pytest.fixture(scope="module")
def large() -> tuple[bytes, str]:
    code = lazy_module.build()
    return code, p.code_id(code)


def run(compiled: wasm.CompiledModule, export: str) -> tuple[int, int]:
    """``export``'s result and gas, in a fresh instance (as the worker runs every call)."""
    instance = wasm.instantiate(compiled, {}, gas_limit=10**7, canonical_nans=compiled.canonical_nans)
    result = instance.exports[export]()
    return result, instance.gas_used


def stored(directory: Path, code_id: str) -> wasm.CompiledModule:
    """What the disk entry of ``code_id`` holds, read directly."""
    key = cache_key(code_id)
    data = DiskTier.at(directory, 10**9).store.peek(key.text())
    assert data is not None
    return wasm.deserialize_compiled(memoryview(data)[SIZE.size:], metered=True, canonical_nans=True)


def fetch_refused() -> bytes:
    raise AssertionError("the module was fetched although it is on disk")


def test_a_lazy_module_is_stored_partial_and_stored_again_as_it_grows(
        tmp_path: Path, large: tuple[bytes, str]) -> None:
    code, code_id = large
    loader = Loader(DiskTier.at(check_directory(tmp_path), 10**9))
    loaded = loader.load(code_id, lambda: code)
    compiled = loaded.runnable()
    assert len(compiled.codes) == 0  # lazy: nothing compiled at load
    first = stored(tmp_path, code_id)
    assert isinstance(first, PartialModule) and len(first.codes) == 0
    assert not loader.tend()  # nothing compiled since
    for export in STORED:
        run(compiled, export)
    assert loader.tend()
    assert not loader.tend()
    again = stored(tmp_path, code_id)
    assert isinstance(again, PartialModule)
    assert set(again.codes) == set(compiled.codes) and len(again.codes) == 5


FRESH_PROCESS = """
import json, sys
from pathlib import Path
from wasmpool import wasm
from wasmpool.wasm.serialize import PartialModule
from wasmpool.worker.tiers import DiskTier, Loader
from tests.pool.test_partial_entries import fetch_refused, run
wasm.prepare_process()
loader = Loader(DiskTier.at(Path(sys.argv[1]), 10**9))
compiled = loader.load(sys.argv[2], fetch_refused).runnable()
out = {"partial": isinstance(compiled, PartialModule), "stored": sorted(compiled.codes), "runs": {}}
for export in sys.argv[3:]:
    out["runs"][export] = [*run(compiled, export), compiled.decoded]
out["codes"] = {index: code.co_code.hex() for index, (code, _) in compiled.codes.items()}
out["disk"] = loader.report(0)["disk"]
print(json.dumps(out))
"""


def fresh_process(directory: Path, code_id: str, exports: tuple[str, ...]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(directory), code_id, *exports],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def stored_after_calls(directory: Path, code: bytes, code_id: str) -> wasm.CompiledModule:
    """The module compiled lazily over ``directory``, STORED run, its grown entry stored again."""
    loader = Loader(DiskTier.at(check_directory(directory), 10**9))
    compiled = loader.load(code_id, lambda: code).runnable()
    for export in STORED:
        run(compiled, export)
    loader.tend()
    return compiled


def test_a_fresh_process_runs_a_partial_entry_as_the_module_compiled_now(
        tmp_path: Path, large: tuple[bytes, str]) -> None:
    code, code_id = large
    compiled = stored_after_calls(tmp_path, code, code_id)
    answer = fresh_process(tmp_path, code_id, LATER)
    assert answer["partial"] and answer["disk"] == 1
    assert answer["stored"] == sorted(compiled.codes)
    now = load(code, code_id).runnable()  # compiled now, in this process
    expected = {export: [*run(now, export)] for export in LATER}
    assert {export: runs[:2] for export, runs in answer["runs"].items()} == expected
    assert [runs[2] for runs in answer["runs"].values()] == [False, True, True]  # e0 ran as stored
    assert len(answer["codes"]) == 5 + 5 and len(now.codes) == 8  # e0 h0 h1 e150 h150 h151 e299 h299
    assert {index: answer["codes"][str(index)] for index in now.codes} == {
        index: code.co_code.hex() for index, (code, _) in now.codes.items()}  # the same bytecode


def test_workers_sharing_a_directory_keep_each_others_functions(
        tmp_path: Path, large: tuple[bytes, str]) -> None:
    code, code_id = large
    directory = check_directory(tmp_path)
    one, two = (Loader(DiskTier.at(directory, 10**9)) for _ in range(2))
    first, second = (loader.load(code_id, lambda: code).runnable() for loader in (one, two))
    run(first, "e0")
    run(second, "e100")
    assert one.tend() and two.tend()  # the second writes last, and keeps the first's functions
    assert set(stored(tmp_path, code_id).codes) == set(first.codes) | set(second.codes)
    assert len(set(first.codes) | set(second.codes)) == 6
    assert set(first.codes) <= set(second.codes)  # lent to the second worker's module too


def test_a_damaged_partial_entry_is_compiled_again(tmp_path: Path, large: tuple[bytes, str]) -> None:
    code, code_id = large
    directory = check_directory(tmp_path)
    loader = Loader(DiskTier.at(directory, 10**9))
    run(loader.load(code_id, lambda: code).runnable(), "e0")
    loader.tend()
    path = loader.disk.store.path(cache_key(code_id).text()) if loader.disk else None
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the module's stored bytes
    path.write_bytes(bytes(data))
    again = Loader(DiskTier.at(directory, 10**9))
    compiled = again.load(code_id, lambda: code).runnable()
    assert again.report(0)["disk_corrupt"] == 1 and again.report(0)["compile"] == 1
    assert not isinstance(compiled, PartialModule)
    assert run(compiled, "e3") == run(load(code, code_id).runnable(), "e3")


def test_a_partial_blob_whose_bytes_are_another_module_refuses_to_compile(large: tuple[bytes, str]) -> None:
    code, code_id = large
    compiled = load(code, code_id).runnable()
    run(compiled, "e0")
    token = (ROOT / "examples" / "token.wasm").read_bytes()
    blob = wasm.serialize_compiled(compiled, token)  # a bug or damage the checksum cannot see
    partial = wasm.deserialize_compiled(blob, metered=True, canonical_nans=True)
    assert isinstance(partial, PartialModule)
    assert run(partial, "e0") == run(compiled, "e0")  # stored functions run
    with pytest.raises(wasm.ArtifactCorrupt):
        run(partial, "e7")  # never an ordinary contract failure: the worker reports it as internal


def test_a_whole_module_given_its_bytes_is_stored_whole() -> None:
    token = (ROOT / "examples" / "token.wasm").read_bytes()
    compiled = load(token).runnable()  # small: compiled eagerly
    blob = wasm.serialize_compiled(compiled, token)
    loaded = wasm.deserialize_compiled(blob, metered=True, canonical_nans=True)
    assert not isinstance(loaded, PartialModule)
    assert token not in blob


MODULES = ["examples/token.wasm", "examples/fib.wasm", "tests/corpus/rust/text.wasm"]


@pytest.mark.parametrize("relpath", MODULES, ids=["token", "fib", "rust-text"])
def test_the_stored_module_loads_as_equal_objects_of_the_same_classes(relpath: str) -> None:
    slim = slim_module(wasm.decode((ROOT / relpath).read_bytes()))
    again = pickle.loads(dump_module(slim))
    assert again == slim
    assert [type(item) for item in again.imports + again.exports] == [
        type(item) for item in slim.imports + slim.exports]
    assert again.funcs == slim.funcs and again.code_info == slim.code_info and again.names == slim.names
    assert [func.local_names for func in again.funcs] == [func.local_names for func in slim.funcs]


def test_a_preloaded_and_primed_partial_entry_runs_as_the_module_compiled_now(
        tmp_path: Path, large: tuple[bytes, str]) -> None:
    code, code_id = large
    stored_after_calls(tmp_path, code, code_id)
    kept: dict[str, Any] = {}
    preloading = Loader(DiskTier.at(tmp_path, 10**9))
    assert preloading.preload(4, 10.0, lambda found, loaded: kept.setdefault(found, loaded)) == 1
    primed = kept[code_id].runnable()
    assert isinstance(primed, PartialModule) and prime(primed, {})  # the general path, then its maker
    now = load(code, code_id).runnable()
    assert {export: run(primed, export) for export in LATER} == {export: run(now, export) for export in LATER}
