#!/usr/bin/env bash
# Rebuilds the AssemblyScript programs of the corpus: every NAME.ts here into
# NAME.wasm, with the stub runtime (no garbage collector, memory never freed)
# and abort() turned into a trap, so that the modules import nothing.
#
# Toolchain that built the committed files: AssemblyScript 0.28.20 from npm
# (node 20), installed outside the repository:
#   npm install assemblyscript@0.28.20     # in a scratch directory
#   ASC=/path/to/node_modules/.bin/asc ./build.sh
# The tests use the committed .wasm files and never run this script.
set -euo pipefail
cd "$(dirname "$0")"

ASC=${ASC:-asc}
for src in *.ts; do
    "$ASC" "$src" --runtime stub --use abort= -O3 --noAssert -o "${src%.ts}.wasm"
done
