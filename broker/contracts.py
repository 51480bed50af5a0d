"""Contract instances: addresses, the registry of contracts and their code history.

A *code* is a deployed module (its code id, the SHA-256 of its bytes); a
*contract* is an instance of a code at an *address*, with its own state
namespace. The address is derived from who creates it, the code and a salt
(:func:`derive_address`), so anyone can compute it before it exists.

State namespaces: an instance's state lives under its address in hex (40
characters), where a legacy call, one naming a code id, uses the code id
(64 characters): the stores' key layout is the same for both.

The registry lives in the state itself, under two reserved namespaces no
request can name (requests name only 40 or 64 hex characters):

- :data:`REGISTRY` holds, under the 20 address bytes, the contract's record
  (code id, admin, creator, salt, history length), msgpack;
- :data:`HISTORY` holds, under the address bytes and a big-endian u32
  index, each code change (kind, code id, by whom); the entry's version is
  the sequence number of the commit that made it.

So the registry is part of the state root (a chain keeps the contract's
code in consensus state), and a registry change commits in the same
transaction as the writes of the instantiate or migrate call that made it,
through the store's cross-namespace commit (``commit_many``): a failed call
leaves neither the contract nor any write.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wasmpool.broker.state import Location, StateStore
from wasmpool.wire import errors
from wasmpool.wire import protocol as p

REGISTRY = p.REGISTRY_SPACE
"""The reserved namespace of contract records (key: the 20 address bytes)."""

HISTORY = "wasmpool/history"
"""The reserved namespace of code changes (key: address bytes + u32 big-endian index)."""


class Change(StrEnum):
    """The kinds of code change a contract's history records."""

    INSTANTIATE = "instantiate"
    MIGRATE = "migrate"


derive_address = p.contract_address
"""The 20-byte address of a contract: ``wasmpool.wire.protocol.contract_address`` (docs/abi.md)."""


def is_address(target: str) -> bool:
    """True when a request's target names a contract address (else it is a legacy code id)."""
    return p.is_address(target)


@dataclass(frozen=True, slots=True)
class Contract:
    """A contract's record: its code now, who may migrate it, who made it and how."""

    address: bytes
    code_id: str
    admin: bytes | None
    creator: bytes
    salt: bytes
    changes: int  # entries in its history

    @property
    def namespace(self) -> str:
        """The namespace its state lives under: its address in hex."""
        return self.address.hex()

    def encode(self) -> bytes:
        return p.pack({"code_id": self.code_id, "admin": self.admin, "creator": self.creator,
                       "salt": self.salt, "changes": self.changes})

    @classmethod
    def decode(cls, address: bytes, value: bytes) -> Contract:
        body = p.unpack(value)
        return cls(address, body["code_id"], body["admin"], body["creator"], body["salt"], body["changes"])


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One code change: what kind, to which code, by whom, in which commit (its sequence number)."""

    kind: Change
    code_id: str
    by: bytes
    sequence: int

    def to_wire(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "code_id": self.code_id, "by": self.by, "sequence": self.sequence}


def history_key(address: bytes, index: int) -> bytes:
    return address + struct.pack(">I", index)


def lookup(store: StateStore, address: bytes) -> Contract | None:
    """The contract at ``address``, or None."""
    value = store.get(REGISTRY, address).value
    return None if value is None else Contract.decode(address, value)


def require(store: StateStore, address_hex: str) -> Contract:
    """The contract at a hex address, or UnknownContract."""
    contract = lookup(store, bytes.fromhex(address_hex))
    if contract is None:
        raise errors.UnknownContract(f"no contract at address {address_hex}")
    return contract


def history(store: StateStore, contract: Contract) -> list[HistoryEntry]:
    """Every code change of ``contract``, oldest first."""
    entries = []
    for index in range(contract.changes):
        value, version = store.get(HISTORY, history_key(contract.address, index))
        if value is None:
            continue
        body = p.unpack(value)
        entries.append(HistoryEntry(Change(body["kind"]), body["code_id"], body["by"], version))
    return entries


@dataclass(frozen=True, slots=True)
class Pending:
    """A registry change waiting for its call to succeed: the reads it rests on and what it writes."""

    contract: Contract
    kind: Change
    by: bytes
    registry_version: int  # the record's version when the request was accepted (0: absent)

    def reads(self) -> dict[Location, int]:
        return {(REGISTRY, self.contract.address): self.registry_version}

    def writes(self) -> dict[Location, bytes | None]:
        index = self.contract.changes - 1
        entry = p.pack({"kind": str(self.kind), "code_id": self.contract.code_id, "by": self.by})
        return {(REGISTRY, self.contract.address): self.contract.encode(),
                (HISTORY, history_key(self.contract.address, index)): entry}


def by_namespace(writes: dict[Location, bytes | None]) -> dict[str, dict[bytes, bytes | None]]:
    """Located writes grouped by namespace."""
    grouped: dict[str, dict[bytes, bytes | None]] = {}
    for (space, key), value in writes.items():
        grouped.setdefault(space, {})[key] = value
    return grouped


def instantiation(store: StateStore, code_id: str, creator: bytes, salt: bytes, admin: bytes | None
                  ) -> Pending:
    """The registry change creating a contract; ContractExists when its address is taken."""
    address = derive_address(creator, code_id, salt)
    value, version = store.get(REGISTRY, address)
    if value is not None:
        raise errors.ContractExists(f"a contract exists at {address.hex()} already (same creator, code and "
                                    "salt); choose another salt")
    return Pending(Contract(address, code_id, admin, creator, salt, 1), Change.INSTANTIATE, creator, version)


def migration(store: StateStore, address_hex: str, code_id: str, caller: bytes) -> Pending:
    """The registry change switching a contract to ``code_id``; NotAdmin unless ``caller`` is its admin."""
    address = bytes.fromhex(address_hex)
    value, version = store.get(REGISTRY, address)
    if value is None:
        raise errors.UnknownContract(f"no contract at address {address_hex}")
    contract = Contract.decode(address, value)
    if contract.admin is None or contract.admin != caller:
        why = "has no admin: it cannot migrate" if contract.admin is None else "is migrated by its admin only"
        raise errors.NotAdmin(f"{address_hex} {why}")
    if contract.changes >= p.MAX_HISTORY:
        raise errors.BadRequest(f"{address_hex} has changed code {contract.changes} times, the most allowed")
    moved = Contract(address, code_id, contract.admin, contract.creator, contract.salt, contract.changes + 1)
    return Pending(moved, Change.MIGRATE, caller, version)


def refreshed(store: StateStore, pending: Pending) -> Pending:
    """``pending`` made again over the registry as it is now (after a stale commit): the typed error if
    it no longer holds (another instantiate took the address, another migrate moved the contract)."""
    contract = pending.contract
    if pending.kind is Change.INSTANTIATE:
        return instantiation(store, contract.code_id, contract.creator, contract.salt, contract.admin)
    return migration(store, contract.namespace, contract.code_id, pending.by)


def info(store: StateStore, address_hex: str) -> dict[str, Any]:
    """The CONTRACT_INFO reply: the record and its history."""
    contract = require(store, address_hex)
    return {"address": address_hex, "code_id": contract.code_id, "admin": contract.admin,
            "creator": contract.creator, "salt": contract.salt,
            "history": [entry.to_wire() for entry in history(store, contract)]}
