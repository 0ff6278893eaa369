"""Collections of documents, each with a default chunking configuration."""
