"""The pure chunking library: types, sizing, strategies, recommend and compare. No I/O."""
