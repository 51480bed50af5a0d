#!/usr/bin/env bash
# Rebuilds the C programs of the corpus: every NAME.c here (the shared code is
# corpus.h) at -O0, -O2, -O3 and -Oz for the MVP instruction set,
# into NAME.O2.wasm etc., and at -O2 with the post-MVP features the engine
# supports (bulk memory, sign extension, saturating float-to-int, multi-value
# with its experimental ABI) into NAME.O2-ext.wasm.
#
# Toolchain that built the committed files: Debian bookworm's clang 14
# (1:14.0-55.7~deb12u1) and wasm-ld 14 (package lld), no libc, no compiler-rt:
#   apt-get install clang lld
# The tests use the committed .wasm files and never run this script.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang}
LEVELS=${LEVELS:-"O0 O2 O3 Oz"}
FLAGS=(--target=wasm32-unknown-unknown -nostdlib -ffreestanding -Wall -Wextra -Werror
       -Wl,--no-entry -Wl,--strip-debug -Wl,-z,stack-size=262144)

EXT=(-mbulk-memory -msign-ext -mnontrapping-fptoint -mmultivalue -Xclang -target-abi -Xclang experimental-mv)

for src in *.c; do
    for level in $LEVELS; do
        "$CLANG" "${FLAGS[@]}" "-$level" -o "${src%.c}.$level.wasm" "$src"
    done
    "$CLANG" "${FLAGS[@]}" -O2 "${EXT[@]}" -o "${src%.c}.O2-ext.wasm" "$src"
done
chmod a-x ./*.wasm  # the linker marks its output executable
