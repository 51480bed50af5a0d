"""The corpus of real-world programs (see README.md), and the Python oracles of its tests."""
