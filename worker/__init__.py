"""wasmpool's worker side: the WebAssembly engine (``worker.wasm``) and the worker process."""
