"""The broker: the ZeroMQ server, its socket-free core, state stores, security and blocks.

It speaks :mod:`wasmpool.wire` and never imports the engine or the worker:
what it needs of them (checking a deployed module) is handed to it where it
is started.
"""
