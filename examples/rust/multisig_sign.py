"""Sign calls for the multisig wallet (multisig.rs) with demonstration keys.

    python examples/rust/multisig_sign.py keys 0 1 2
        the public keys of demonstration signers 0, 1 and 2 (hex, space-separated:
        "2 $(... keys 0 1 2)" is a 2-of-3 wallet's instantiate input)
    python examples/rust/multisig_sign.py execute WALLET NONCE TARGET FUNCTION TEXT SIGNER...
        the execute input calling FUNCTION of TARGET with TEXT (UTF-8), signed by the
        demonstration signers SIGNER... (their positions in the wallet's key list)

The message signed is the wallet's canonical one (multisig.rs):
"wasmpool-multisig-v1", the wallet's address, the nonce (u64 LE), the target,
then the function and the input, each after its u32 LE length. The keys come
from fixed seeds (SHA-256 of "wasmpool demo signer N"): anyone can sign with
them, so they are for trying the wallet out, never for anything of value.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
from collections.abc import Sequence

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

DOMAIN = b"wasmpool-multisig-v1"


def demo_key(index: int) -> ECC.EccKey:
    """Demonstration signer ``index``: an ed25519 key from a public, fixed seed."""
    return ECC.construct(curve="Ed25519", seed=hashlib.sha256(b"wasmpool demo signer %d" % index).digest())


def public_key(index: int) -> str:
    raw: bytes = demo_key(index).public_key().export_key(format="raw")
    return raw.hex()


def message(wallet: str, nonce: int, target: str, function: str, data: bytes) -> bytes:
    """The canonical message the wallet checks signatures over."""
    return (DOMAIN + bytes.fromhex(wallet) + struct.pack("<Q", nonce) + bytes.fromhex(target)
            + struct.pack("<I", len(function)) + function.encode() + struct.pack("<I", len(data)) + data)


def execute_input(wallet: str, nonce: int, target: str, function: str, data: bytes,
                  signers: Sequence[int]) -> str:
    """The execute input: "NONCE TARGET FUNCTION INPUT_HEX INDEX:SIG..." ("-" for an empty input)."""
    signed = message(wallet, nonce, target, function, data)
    signatures = [f"{i}:{eddsa.new(demo_key(i), 'rfc8032').sign(signed).hex()}" for i in signers]
    return " ".join([str(nonce), target, function, data.hex() or "-", *signatures])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="sign calls for the multisig wallet with demonstration keys")
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="public keys of demonstration signers")
    keys.add_argument("signers", type=int, nargs="+")
    execute = commands.add_parser("execute", help="a signed execute input")
    execute.add_argument("wallet")
    execute.add_argument("nonce", type=int)
    execute.add_argument("target")
    execute.add_argument("function")
    execute.add_argument("text", help="the target function's input, as text")
    execute.add_argument("signers", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "keys":
        print(" ".join(public_key(i) for i in args.signers))
    else:
        print(execute_input(args.wallet, args.nonce, args.target, args.function, args.text.encode(),
                            args.signers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
