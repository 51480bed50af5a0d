"""Every float instruction gives the stored bits: our engine and the reference, with canonical NaNs.

A consensus node must compute the same float bits on every CPU; with
``canonical_nans=True`` the engine does (see ``float_digest`` for the
instructions, inputs and encoding). Each variant runs the whole digest
module and must match ``float_digest.json`` op by op; a failure names the
operations whose results changed. ``bench/float_digest_wasmtime.py`` checks
the same stored digest against wasmtime with NaN canonicalization.
"""

from __future__ import annotations

import pytest

from tests.wasm import float_digest as fd

VARIANTS = {
    "unmetered": fd.ours(metered=False, canonical_nans=True),
    "metered": fd.ours(metered=True, canonical_nans=True),
    "reference": fd.reference_engine(canonical_nans=True),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_float_results_match_the_stored_digest(variant: str) -> None:
    expected = fd.load_expected()
    found = fd.digest(fd.run(VARIANTS[variant]))
    changed = fd.mismatches(expected, found)
    assert not changed, f"{variant}: the float results of {len(changed)} ops changed: {', '.join(changed)}"
    assert found.overall == expected.overall
