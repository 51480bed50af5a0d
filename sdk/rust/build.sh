#!/usr/bin/env bash
# Builds the Rust SDK and the example contracts in examples/rust/ for
# wasm32-unknown-unknown with plain rustc (no cargo, no registry), and
# writes each contract's .wasm beside its source. The built .wasm files are
# committed, so nothing needs this script unless a .rs file changes.
#
#   sdk/rust/build.sh           build, write examples/rust/*.wasm and SHA256SUMS
#   sdk/rust/build.sh --check   build into a scratch directory and compare with
#                               the committed files (the build is reproducible)
#
# The committed files were built by Debian's rustc 1.63.0 with its
# libstd-rust-dev-wasm32 (set RUSTC to choose the compiler; another version
# builds working contracts with other bytes, so --check would report them).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rustc="${RUSTC:-rustc}"
target=wasm32-unknown-unknown
contracts=(counter token swap toolbox)
examples=examples/rust

mode="${1:-build}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$rustc" --version
# The contracts' profile: small (opt-level z, fat LTO, one codegen unit),
# panics abort (the SDK turns them into reverts first), arithmetic overflow
# panics (a wrapped balance is a bug worth reverting), no symbols.
flags=(--edition 2021 --target "$target" -C opt-level=z -C panic=abort -C codegen-units=1 -C overflow-checks=on
       --remap-path-prefix "$root=.")
"$rustc" "${flags[@]}" --crate-type rlib --crate-name wasmpool_sdk -o "$out/libwasmpool_sdk.rlib" sdk/rust/src/lib.rs
for name in "${contracts[@]}"; do
    "$rustc" "${flags[@]}" --crate-type cdylib --crate-name "$name" -C lto -C strip=symbols \
        --extern wasmpool_sdk="$out/libwasmpool_sdk.rlib" -o "$out/$name.wasm" "$examples/$name.rs"
done
(cd "$out" && sha256sum "${contracts[@]/%/.wasm}") > "$out/SHA256SUMS"

case "$mode" in
    build)
        for name in "${contracts[@]}"; do cp "$out/$name.wasm" "$examples/$name.wasm"; done
        cp "$out/SHA256SUMS" "$examples/SHA256SUMS"
        for name in "${contracts[@]}"; do printf '%8d bytes  %s\n' "$(wc -c < "$examples/$name.wasm")" "$examples/$name.wasm"; done
        ;;
    --check)
        diff "$examples/SHA256SUMS" "$out/SHA256SUMS" && (cd "$examples" && sha256sum --quiet -c SHA256SUMS) \
            && echo "the committed .wasm files are what this build produces"
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac
