"""Repositories: storage operations that take a session and domain arguments."""

from chunkyard.storage.repositories.chunks import (
    DocumentChunkWriter,
    DocumentNotFound,
    config_hash_for,
    count_collection_chunks,
    delete_document_chunks,
    document_chunk_ids,
    ensure_chunk_config,
    iter_collection_chunks,
    list_collection_chunks,
    list_document_chunks,
    replace_document_chunks,
    store_document_chunks,
)
from chunkyard.storage.repositories.collections import delete_collection, delete_document
from chunkyard.storage.repositories.pages import (
    MAX_PAGE_SIZE,
    InvalidCursor,
    InvalidPageRequest,
    Keyset,
    Page,
    StorageError,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "DocumentChunkWriter",
    "DocumentNotFound",
    "InvalidCursor",
    "InvalidPageRequest",
    "Keyset",
    "Page",
    "StorageError",
    "config_hash_for",
    "count_collection_chunks",
    "delete_collection",
    "delete_document",
    "delete_document_chunks",
    "document_chunk_ids",
    "ensure_chunk_config",
    "iter_collection_chunks",
    "list_collection_chunks",
    "list_document_chunks",
    "replace_document_chunks",
    "store_document_chunks",
]
