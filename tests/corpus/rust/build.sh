#!/usr/bin/env bash
# Rebuilds the Rust programs of the corpus: every NAME.rs here (except the
# shared io.rs module) into NAME.wasm, a wasm32-unknown-unknown cdylib using
# std, no crates. Panics abort (a trap); debug info is stripped but the name
# section is kept. The modules import nothing (check with wasm-objdump -x).
#
# Toolchain that built the committed files: Debian bookworm's rustc 1.63.0
# (1.63.0+dfsg1-2) with its wasm32 standard library:
#   apt-get install rustc libstd-rust-dev-wasm32
# The tests use the committed .wasm files and never run this script.
set -euo pipefail
cd "$(dirname "$0")"

RUSTC=${RUSTC:-rustc}
for src in *.rs; do
    [ "$src" = io.rs ] && continue
    "$RUSTC" --edition 2021 --target wasm32-unknown-unknown -O --crate-type cdylib \
        -C panic=abort -C strip=debuginfo "$src" -o "${src%.rs}.wasm"
done
chmod a-x ./*.wasm  # the linker marks its output executable
