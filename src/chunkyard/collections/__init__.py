"""Collections of documents with a default chunking configuration, and chunking previews."""
