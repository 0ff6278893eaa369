"""The built-in strategies; importing this package registers all six."""

from chunkyard.core.strategies import (  # noqa: F401
    character,
    hierarchical,
    hybrid,
    markdown,
    recursive,
    semantic,
)
