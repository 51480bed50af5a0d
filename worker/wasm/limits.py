"""Limits for untrusted modules, with defaults generous for real compiler output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Upper bounds the decoder enforces; exceeding one raises ``LimitError``."""

    module_size: int = 64 * 1024 * 1024
    types: int = 1_000_000
    functions: int = 1_000_000
    imports: int = 100_000
    exports: int = 100_000
    globals: int = 1_000_000
    tables: int = 100_000
    memories: int = 100  # more than one is invalid (validator); this bounds the work
    data_segments: int = 100_000
    elem_segments: int = 100_000
    elem_items: int = 10_000_000
    params: int = 1_000
    results: int = 1_000
    locals: int = 50_000
    body_size: int = 7_654_321
    nesting_depth: int = 10_000
    br_table_size: int = 1_000_000
    # values a body's calls, returns and branches pass (a br_table's to each distinct target), per byte
    # of the body, rounded up: each becomes a name in the generated code (see ``carried``); compiler
    # output passes well under one per byte
    carried_values: int = 4
    name_length: int = 100_000


DEFAULT_LIMITS = DecodeLimits()
