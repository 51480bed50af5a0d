#!/usr/bin/env bash
# Rebuilds the pool benchmark's contract with wabt's wat2wasm; the .wasm is committed.
set -euo pipefail
cd "$(dirname "$0")"
wat2wasm reads.wat -o reads.wasm
