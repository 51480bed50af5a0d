"""Subcommands of the ``wasmpool`` CLI that need only the engine."""
