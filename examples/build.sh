#!/usr/bin/env bash
# Builds examples/fib.wasm from fib.c (clang with the wasm32 target and wasm-ld).
# The committed fib.wasm is what `make run` runs; nothing needs this script
# unless fib.c changes.
set -euo pipefail
cd "$(dirname "$0")"
clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o fib.wasm fib.c
chmod 644 fib.wasm  # wasm-ld marks its output executable; it is data
