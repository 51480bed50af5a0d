#!/usr/bin/env bash
# Builds the Rust SDK and the example contracts in examples/rust/ for
# wasm32-unknown-unknown with plain rustc (no registry, no cargo), and
# writes each contract's .wasm beside its source. The built .wasm files are
# committed, so nothing needs this script unless a .rs file changes.
#
#   sdk/rust/build.sh           build, write examples/rust/*.wasm and SHA256SUMS
#   sdk/rust/build.sh --check   build in a scratch directory and compare with
#                               the committed files (the build is reproducible)
#
# Why rustc and not cargo: cargo derives each crate's metadata hash from the
# absolute path of a path dependency, and the hash changes the linked code's
# layout, so a checkout elsewhere would build other bytes. Here every path
# handed to rustc is relative to the repository and no hash is asked for.
# `cargo build --release --examples --target wasm32-unknown-unknown` in
# examples/rust builds the same contracts with the same profile (its
# Cargo.toml), for people who prefer cargo.
#
# The committed files were built by Debian's rustc 1.63.0 with its
# libstd-rust-dev-wasm32 (RUSTC chooses the compiler; another version builds
# working contracts with other bytes, which --check reports).
set -euo pipefail
cd "$(dirname "$0")/../.."
rustc="${RUSTC:-rustc}"
examples=examples/rust
contracts=(counter token swap toolbox multisig)

mode="${1:-build}"
case "$mode" in build | --check) ;; *) echo "usage: $0 [--check]" >&2; exit 2 ;; esac
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$rustc" --version
# The contracts' profile, as in examples/rust/Cargo.toml: small (opt-level s,
# fat LTO, one codegen unit, no symbols; s rather than z because every call
# pays instantiation gas per function, and z leaves more functions
# uninlined: the token's transfer costs 40 k gas at s, 55 k at z, for 4 %
# more bytes); a panic aborts (the SDK turns it into a revert first);
# arithmetic overflow panics (a wrapped balance is a bug worth reverting);
# a 64 KiB stack instead of 1 MiB (instantiation is charged per initial
# memory page).
flags=(--edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C panic=abort -C codegen-units=1
       -C overflow-checks=on -C link-arg=-zstack-size=65536)
"$rustc" "${flags[@]}" --crate-type rlib --crate-name wasmpool_sdk -o "$out/libwasmpool_sdk.rlib" \
    sdk/rust/src/lib.rs
for name in "${contracts[@]}"; do
    "$rustc" "${flags[@]}" --crate-type cdylib --crate-name "$name" -C lto -C strip=symbols \
        --extern wasmpool_sdk="$out/libwasmpool_sdk.rlib" -o "$out/$name.wasm" "$examples/$name.rs"
done
(cd "$out" && sha256sum "${contracts[@]/%/.wasm}") > "$out/SHA256SUMS"

if [ "$mode" = --check ]; then
    diff "$examples/SHA256SUMS" "$out/SHA256SUMS"
    (cd "$examples" && sha256sum --quiet -c SHA256SUMS)
    echo "the committed .wasm files are what this build produces"
else
    for name in "${contracts[@]}"; do
        cp "$out/$name.wasm" "$examples/$name.wasm"
        printf '%8d bytes  %s\n' "$(wc -c < "$examples/$name.wasm")" "$examples/$name.wasm"
    done
    cp "$out/SHA256SUMS" "$examples/SHA256SUMS"
fi
