"""Generators of random, valid, terminating WebAssembly modules for differential testing.

* :mod:`.values` -- the seeded chooser every decision goes through, and the
  interesting bit patterns of each numeric type;
* :mod:`.functions` -- one function body at a time: typed expression trees
  over every numeric instruction, and structured control flow with branches
  carrying values to random depths; the ``-grow`` profiles add memory that
  grows, accesses in the new pages and calls to functions that grow it;
* :mod:`.modules` -- whole modules (memory, globals, table, functions) and the
  calls to make on them;
* :mod:`.compare` -- running a module on the engine (unmetered, metered) and
  the reference interpreter, and what counts as a mismatch.

Used by ``tests/wasm/test_differential.py`` (hypothesis draws the seeds) and by
``bench/differential.py`` (long runs, with wasmtime as a third opinion).
"""
