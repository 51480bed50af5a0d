#!/usr/bin/env bash
# Builds the example contracts (token.wasm, counter.wasm) from their C sources
# with clang's wasm32 target and wasm-ld; no libc. The built .wasm files are
# committed, so nothing needs this script unless a .c file changes.
set -euo pipefail
cd "$(dirname "$0")"
for name in token counter; do
    clang --target=wasm32 -O2 -nostdlib -fno-builtin -Wall -Wextra -Werror \
        -Wl,--no-entry -Wl,--strip-all -o "$name.wasm" "$name.c"
done
