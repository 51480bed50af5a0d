"""The wire protocol between clients, broker and workers: frames, messages, codes, typed errors.

Shared by every side, it imports nothing else of wasmpool's: not the
engine, not the broker, not the worker.
"""
