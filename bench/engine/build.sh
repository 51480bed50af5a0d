#!/usr/bin/env bash
# Rebuild every benchmark program: NAME.c -> NAME.wasm beside it.
# Needs clang and wasm-ld (LLVM, with the wasm32 target). Running the
# benchmarks needs neither: the built .wasm files are committed.
# Usage: bench/engine/build.sh [CLANG]
set -euo pipefail
cd "$(dirname "$0")"
CC=${1:-${CLANG:-clang}}
CFLAGS=(--target=wasm32 -O2 -nostdlib -fno-builtin -Wall -Wextra -Werror
        -Wl,--no-entry -Wl,--export=run -Wl,--strip-debug)

build() {  # build OUTPUT SOURCE [EXTRA FLAGS...]
    local out=$1 src=$2
    shift 2
    "$CC" "${CFLAGS[@]}" "$@" -o "$out" "$src"
    echo "built $out ($(wc -c <"$out") bytes)"
}

# Keep both recursive calls of fib (no accumulator-recursion elimination).
build fib.wasm fib.c -fno-optimize-sibling-calls
build sha256.wasm sha256.c
build mandelbrot_f32.wasm mandelbrot.c -DREAL=float
build mandelbrot_f64.wasm mandelbrot.c -DREAL=double
build crc32.wasm crc32.c
build sort.wasm sort.c
build matmul.wasm matmul.c
build interp.wasm interp.c
