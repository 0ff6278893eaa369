"""Sizing: how many tokens a span of text holds, under a named tokenizer.

A `Tokenizer` counts a string. Its `measure()` indexes one document so that strategies can ask
for the exact token count of any span `[a, b)` and for the furthest end that still fits a cap,
without re-tokenizing growing chunks.
"""

from chunkyard.core.sizing.base import Measure, Tokenizer
from chunkyard.core.sizing.registry import get_tokenizer, validate_tokenizer_name

__all__ = ["Measure", "Tokenizer", "get_tokenizer", "validate_tokenizer_name"]
