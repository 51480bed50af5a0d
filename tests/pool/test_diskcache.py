"""The host's compiled-code cache on disk, with real files: checked entries, atomic writes, LRU bound, keys.

Damaged, truncated and foreign entries are deleted and reported as misses,
never returned; a write that fails (a real EFBIG from a file-size limit)
is counted and changes nothing else; the directory's permissions are
checked as ssh checks a key's; every part of the key changes its file.
Loading through :class:`~wasmpool.worker.tiers.Loader` from disk gives a
module that runs as the compiled one, without fetching its bytes.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from wasmpool import wasm
from wasmpool.wire import protocol as p
from wasmpool.worker import diskcache as dc
from wasmpool.worker.diskcache import CacheDirRefused, DiskCache, check_directory
from wasmpool.worker.host import CallContext, CallState, Host
from wasmpool.worker.modules import load
from wasmpool.worker.tiers import DiskTier, Loader
from wasmpool.worker.versions import CacheKey, cache_key, engine_build, source_digest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def test_an_entry_comes_back_as_written(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path / "cache"))
    assert store.get("k1") is None
    assert store.put("k1", b"payload" * 100)
    assert store.get("k1") == b"payload" * 100
    assert (store.stats.hits, store.stats.misses, store.stats.writes) == (1, 1, 1)
    assert stat.S_IMODE(store.path("k1").stat().st_mode) == dc.FILE_MODE
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == dc.DIRECTORY_MODE
    assert [f.name for f in (tmp_path / "cache").iterdir()] == ["k1.wpc"]  # no temporary file left


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGES = {
    "payload byte": lambda path: _flip(path, path.stat().st_size - 3),
    "header byte": lambda path: _flip(path, 8),
    "magic": lambda path: _flip(path, 0),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:-10]),
    "truncated header": lambda path: path.write_bytes(path.read_bytes()[:20]),
    "appended": lambda path: path.write_bytes(path.read_bytes() + b"x"),
    "empty": lambda path: path.write_bytes(b""),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_entry_is_deleted_and_missed(tmp_path: Path, damage: str) -> None:
    store = DiskCache(check_directory(tmp_path))
    store.put("key", os.urandom(5000))
    DAMAGES[damage](store.path("key"))
    assert store.get("key") is None
    assert store.stats.corrupt == 1
    assert not store.path("key").exists()


def test_a_foreign_entry_with_a_valid_header_and_checksum_is_refused(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path))
    store.put("other", b"someone else's code")
    os.replace(store.path("other"), store.path("mine"))  # a whole, checksummed entry under the wrong name
    assert store.get("mine") is None
    assert store.stats.corrupt == 1
    assert not store.path("mine").exists()


def test_the_least_recently_used_entries_are_evicted(tmp_path: Path) -> None:
    entry = len(dc.pack("a", b"x" * 1000))
    store = DiskCache(check_directory(tmp_path), max_bytes=3 * entry)
    for name, age in (("a", 300), ("b", 200), ("c", 100)):
        store.put(name, b"x" * 1000)
        os.utime(store.path(name), (1e9 - age, 1e9 - age))  # written long ago, a first
    assert store.get("a") is not None  # a hit: now the most recently used
    store.put("d", b"x" * 1000)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.wpc", "c.wpc", "d.wpc"]
    assert store.stats.evictions == 1
    assert store.stats.bytes == 3 * entry


def test_a_stale_temporary_file_is_cleaned_and_a_fresh_one_kept(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path))
    stale, fresh = tmp_path / f"{dc.TEMP_PREFIX}1-1", tmp_path / f"{dc.TEMP_PREFIX}1-2"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (1e9, 1e9))
    store.put("k", b"v")
    assert not stale.exists() and fresh.exists()


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """A real file-size limit for this process: writes beyond it fail with EFBIG (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_failed_write_is_counted_and_leaves_nothing(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path))
    with file_size_limit(1000):
        assert not store.put("big", b"x" * 5000)
    assert store.stats.write_errors == 1
    assert list(tmp_path.iterdir()) == []
    assert store.get("big") is None
    assert store.put("big", b"x" * 5000)  # the disk has room again


def test_a_loose_directory_is_refused_unless_allowed(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    for mode in (0o770, 0o707, 0o777):
        loose.chmod(mode)
        with pytest.raises(CacheDirRefused, match="writable by group or others"):
            check_directory(loose)
    assert check_directory(loose, allow_loose=True) == loose
    loose.chmod(0o755)
    assert check_directory(loose) == loose


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(CacheDirRefused, match="another user"):
        check_directory(theirs)


def test_a_file_is_not_a_cache_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(CacheDirRefused):
        check_directory(tmp_path / "file")


def test_keys_must_be_plain_file_names(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path))
    for bad in ("", "../x", "a/b", ".hidden", "x" * 300):
        with pytest.raises(ValueError):
            store.path(bad)


# --- keys -------------------------------------------------------------------------------------


def test_the_key_changes_with_every_part() -> None:
    key = cache_key("ab" * 32)
    variants = [
        key._replace(code_id="cd" * 32), key._replace(engine=key.engine + 1), key._replace(gas=key.gas + 1),
        key._replace(floats="spec"), key._replace(metered=not key.metered),
        key._replace(python=key.python + "x"), key._replace(build=key.build + "x"),
    ]
    texts = {key.text(), *(v.text() for v in variants)}
    assert len(texts) == len(CacheKey._fields) + 1
    assert cache_key("ab" * 32, metered=False).text() != key.text()
    assert cache_key("ab" * 32, floats="spec").text() != key.text()


def test_the_engine_build_is_the_digest_of_the_engines_sources_and_changes_with_any(tmp_path: Path) -> None:
    package = Path(wasm.__file__).parent
    assert cache_key("ab" * 32).build == engine_build() == source_digest(package)
    copy = tmp_path / "wasm"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copy) == engine_build()
    emit = copy / "compiler" / "emit.py"
    emit.write_bytes(emit.read_bytes() + b"# one more line\n")
    changed = source_digest(copy)
    (copy / "compiler" / "extra.py").write_text("")
    assert len({engine_build(), changed, source_digest(copy)}) == 3


# --- the tiers below memory -------------------------------------------------------------------


def _token() -> tuple[bytes, str]:
    code = (EXAMPLES / "token.wasm").read_bytes()
    return code, p.code_id(code)


class Empty:
    """Committed state with nothing in it."""

    def get(self, key: bytes) -> bytes | None:
        return None


def _mint(compiled: wasm.CompiledModule) -> tuple[object, int, dict[bytes, bytes | None], bytes]:
    """Run the token's ``mint`` through the host ABI: its result, gas, writes and output."""
    host = Host()
    call = CallState(Empty(), input=b"alice 1000", context=CallContext(caller=b"alice"))
    host.begin(call)
    instance = wasm.instantiate(compiled, host.imports(), gas_limit=10**7,
                                canonical_nans=compiled.canonical_nans)
    try:
        outcome: object = instance.exports["mint"]()
    except wasm.WasmError as exc:
        outcome = type(exc).__name__
    finally:
        host.end()
    return outcome, instance.gas_used, call.writes, call.output


def test_a_second_loader_takes_the_module_from_disk_without_fetching(tmp_path: Path) -> None:
    code, code_id = _token()
    first = Loader(DiskTier.at(check_directory(tmp_path), 10**8))
    compiled = first.load(code_id, lambda: code)
    assert first.report(0)["compile"] == 1
    assert len(list(tmp_path.glob("*.wpc"))) == 1, "the compiled module was not stored"

    def no_fetch() -> bytes:
        raise AssertionError("the module was on disk")
    second = Loader(DiskTier.at(tmp_path, 10**8))
    restored = second.load(code_id, no_fetch)
    assert second.report(0) | {"disk_bytes": 0} == {
        "memory": 0, "disk": 1, "compile": 0, "preloaded": 0, "disk_bytes": 0, "disk_evictions": 0,
        "disk_corrupt": 0, "disk_write_errors": 0}
    assert restored.key == compiled.key and restored.size == len(code) and restored.problem is None
    minted = _mint(restored.runnable())
    assert minted == _mint(compiled.runnable())
    assert minted[2]  # it wrote the balance and the supply


def _stored(folder: Path, *codes: bytes) -> list[str]:
    """Store each module through a Loader, the first used most recently (ages a second apart); their ids."""
    loader = Loader(DiskTier.at(check_directory(folder), 10**9))
    ids = []
    for age, code in enumerate(codes):
        code_id = p.code_id(code)
        loader.load(code_id, lambda code=code: code)  # type: ignore[misc]
        os.utime(folder / (cache_key(code_id).text() + dc.SUFFIX), (1e9 - age, 1e9 - age))
        ids.append(code_id)
    return ids


def test_preload_loads_the_most_recently_used_entries_of_this_workers_versions(tmp_path: Path) -> None:
    modules = [(EXAMPLES / name).read_bytes() for name in ("token.wasm", "counter.wasm", "fib.wasm")]
    newest, middle, oldest = _stored(tmp_path, *modules)
    shutil.copy(tmp_path / (cache_key(oldest).text() + dc.SUFFIX),  # another engine build's entry
                tmp_path / (cache_key(oldest).text().replace("-b", "-bother") + dc.SUFFIX))
    kept: dict[str, object] = {}
    loader = Loader(DiskTier.at(tmp_path, 10**9))
    assert loader.disk is not None and loader.disk.recent(10) == [newest, middle, oldest]
    assert loader.preload(2, 10.0, lambda code_id, loaded: kept.setdefault(code_id, loaded)) == 2
    assert list(kept) == [newest, middle]
    assert loader.report(0)["preloaded"] == 2 and loader.report(0)["disk"] == 0  # no call asked yet
    minted = _mint(kept[newest].runnable())  # type: ignore[attr-defined]
    assert minted[2]


def test_preload_skips_a_damaged_entry_and_stops_at_its_time_limit(tmp_path: Path) -> None:
    token, counter = (EXAMPLES / "token.wasm").read_bytes(), (EXAMPLES / "counter.wasm").read_bytes()
    newest, older = _stored(tmp_path, token, counter)
    DAMAGES["payload byte"](tmp_path / (cache_key(newest).text() + dc.SUFFIX))
    kept: list[str] = []
    loader = Loader(DiskTier.at(tmp_path, 10**9))
    assert loader.preload(5, 10.0, lambda code_id, _: kept.append(code_id)) == 1 and kept == [older]
    assert loader.report(0)["disk_corrupt"] == 1
    assert Loader(DiskTier.at(tmp_path, 10**9)).preload(5, -1.0, lambda *_: None) == 0
    assert Loader().preload(5, 10.0, lambda *_: None) == 0  # no disk tier: nothing to preload


@pytest.mark.parametrize("damage", ["payload byte", "truncated", "foreign"])
def test_a_bad_entry_is_compiled_again_and_replaced(tmp_path: Path, damage: str) -> None:
    code, code_id = _token()
    Loader(DiskTier.at(check_directory(tmp_path), 10**8)).load(code_id, lambda: code)
    (entry,) = tmp_path.glob("*.wpc")
    if damage == "foreign":  # another module's whole entry, renamed into place
        other = (EXAMPLES / "counter.wasm").read_bytes()
        entry.unlink()
        Loader(DiskTier.at(tmp_path, 10**8)).load(p.code_id(other), lambda: other)
        (foreign,) = tmp_path.glob("*.wpc")
        os.replace(foreign, entry)
    else:
        DAMAGES[damage](entry)
    fetched = []
    loader = Loader(DiskTier.at(tmp_path, 10**8))
    loaded = loader.load(code_id, lambda: fetched.append(1) or code)
    assert fetched == [1]
    report = loader.report(0)
    assert (report["disk"], report["compile"], report["disk_corrupt"]) == (0, 1, 1)
    assert _mint(loaded.runnable())[2]
    assert Loader(DiskTier.at(tmp_path, 10**8)).load(code_id, lambda: b"").problem is None  # replaced


def test_an_entry_of_another_variant_under_the_key_is_discarded(tmp_path: Path) -> None:
    code, code_id = _token()
    key = cache_key(code_id)
    unmetered = wasm.compile(wasm.decode(code), metered=False)
    store = DiskCache(check_directory(tmp_path))
    store.put(key.text(), len(code).to_bytes(8, "little") + wasm.serialize_compiled(unmetered))
    loader = Loader(DiskTier(store))
    loaded = loader.load(code_id, lambda: code)
    assert loaded.runnable().metered
    assert loader.report(0)["disk_corrupt"] == 1
    assert loader.report(0)["compile"] == 1


def test_a_full_disk_leaves_the_module_compiled_in_memory(tmp_path: Path) -> None:
    code, code_id = _token()
    loader = Loader(DiskTier.at(check_directory(tmp_path), 10**8))
    with file_size_limit(4096):
        loaded = loader.load(code_id, lambda: code)
    assert loaded.problem is None
    assert loader.report(0)["disk_write_errors"] == 1
    assert list(tmp_path.iterdir()) == []


def test_a_lazily_compiled_module_is_stored_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmpool.wasm.runtime import compiled as compiled_module
    from wasmpool.wasm.serialize import PartialModule
    monkeypatch.setattr(compiled_module, "EAGER_CODE_BYTES", 100)  # the token then compiles lazily
    code, code_id = _token()
    loader = Loader(DiskTier.at(check_directory(tmp_path), 10**8))
    loaded = loader.load(code_id, lambda: code)
    assert len(loaded.runnable().codes) == 0  # still lazy: nothing compiled for disk
    again = Loader(DiskTier.at(check_directory(tmp_path), 10**8)).load(code_id, lambda: b"")
    assert isinstance(again.compiled, PartialModule) and again.compiled.source == code
    assert _mint(again.runnable()) == _mint(load(code, code_id).runnable())


def test_a_worker_process_refuses_a_loose_directory_and_compiles_in_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wasmpool.worker.config import WorkerConfig
    from wasmpool.worker.process import disk_tier
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    assert disk_tier(WorkerConfig(cache_dir=str(loose))) is None
    assert "no disk cache" in capsys.readouterr().out
    assert isinstance(disk_tier(WorkerConfig(cache_dir=str(loose), cache_dir_loose=True)), DiskTier)
    assert disk_tier(WorkerConfig()) is None


def test_an_entry_of_the_previous_entry_version_is_refused(tmp_path: Path) -> None:
    store = DiskCache(check_directory(tmp_path))
    store.put("k", b"code")
    data = bytearray(store.path("k").read_bytes())
    data[4:6] = (dc.ENTRY_VERSION - 1).to_bytes(2, "little")  # as a BLAKE2b-checked version 1 entry says
    store.path("k").write_bytes(bytes(data))
    assert store.get("k") is None
    assert store.stats.corrupt == 1
