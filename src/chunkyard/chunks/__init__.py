"""Chunks: a collection's or a document's stored chunks, page by page, and JSONL export."""
