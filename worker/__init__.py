"""The worker: a process that takes jobs from the broker and runs them with the engine (``wasmpool.wasm``)."""
