"""Operations: chunking jobs over a collection's documents (start, read, list, cancel)."""
