"""The worker's LRU module cache."""

from __future__ import annotations

import pytest

from wasmpool.worker.cache import ModuleCache


def test_hits_and_misses_are_counted() -> None:
    cache: ModuleCache[str] = ModuleCache(max_entries=4)
    assert cache.get("a") is None
    cache.put("a", "module a", 10)
    assert cache.get("a") == "module a"
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: ModuleCache[str] = ModuleCache(max_entries=2)
    cache.put("a", "A", 1)
    cache.put("b", "B", 1)
    cache.get("a")  # now b is the oldest
    cache.put("c", "C", 1)
    assert cache.keys() == ["a", "c"]
    assert cache.evictions == 1


def test_the_byte_bound_evicts_but_keeps_the_newest() -> None:
    cache: ModuleCache[str] = ModuleCache(max_entries=10, max_bytes=100)
    cache.put("a", "A", 60)
    cache.put("b", "B", 60)
    assert cache.keys() == ["b"] and cache.total_bytes == 60
    cache.put("huge", "H", 1000)
    assert cache.keys() == ["huge"]


def test_replacing_a_key_does_not_count_its_size_twice() -> None:
    cache: ModuleCache[str] = ModuleCache(max_entries=10, max_bytes=100)
    cache.put("a", "A", 60)
    cache.put("a", "A2", 70)
    assert cache.total_bytes == 70 and len(cache) == 1


def test_generation_changes_only_when_keys_change() -> None:
    cache: ModuleCache[str] = ModuleCache()
    start = cache.generation
    cache.get("a")
    assert cache.generation == start
    cache.put("a", "A", 1)
    assert cache.generation != start


@pytest.mark.parametrize(("entries", "size"), [(0, 10), (1, 0)], ids=["no-entries", "no-bytes"])
def test_a_cache_needs_room(entries: int, size: int) -> None:
    with pytest.raises(ValueError):
        ModuleCache(entries, size)
