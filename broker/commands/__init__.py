"""Subcommands of the ``wasmpool`` CLI that talk to or run the pool."""
