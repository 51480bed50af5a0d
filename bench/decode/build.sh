#!/usr/bin/env bash
# Rebuild big.wasm, the decoder benchmark's large module, from gen_big.py's C.
# Needs python3, clang and wasm-ld (LLVM, with the wasm32 target). Running the
# benchmark needs neither: big.wasm is committed.
# Usage: bench/decode/build.sh [CLANG] [FUNCTIONS]
set -euo pipefail
cd "$(dirname "$0")"
CC=${1:-${CLANG:-clang}}
FUNCTIONS=${2:-3000}
src=$(mktemp --suffix=.c)
trap 'rm -f "$src"' EXIT
python3 gen_big.py "$FUNCTIONS" >"$src"
"$CC" --target=wasm32 -O2 -nostdlib -fno-builtin -Wl,--no-entry -Wl,--export-all -Wl,--strip-debug \
    -o big.wasm "$src"
echo "built big.wasm ($(wc -c <big.wasm) bytes)"
