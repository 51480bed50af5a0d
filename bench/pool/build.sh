#!/usr/bin/env bash
# Rebuilds the pool benchmarks' contracts with wabt's wat2wasm; the .wasm files are committed.
set -euo pipefail
cd "$(dirname "$0")"
wat2wasm reads.wat -o reads.wasm
wat2wasm work.wat -o work.wasm
