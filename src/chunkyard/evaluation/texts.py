"""The extracted text of a collection's document, read in the app's capped chunking processes
(as the text view and previews read it), so that a reference's offsets are checked against the
same text its chunks index."""

from __future__ import annotations

from pathlib import Path

from chunkyard.chunking.pool import ChunkingPool
from chunkyard.documents import blobs
from chunkyard.documents.stored import StoredFile, load_document
from chunkyard.evaluation.questions import TextReader
from chunkyard.settings import Settings
from chunkyard.storage.models import Document


def stored_source(document: Document, data_dir: Path, max_extracted_chars: int) -> StoredFile:
    path = document.storage_path or blobs.relative_blob_path(document.content_sha256)
    return StoredFile(document.id, data_dir / path, document.filename, document.content_sha256,
                      None, max_extracted_chars)


def text_reader(pool: ChunkingPool, settings: Settings) -> TextReader:
    async def read(document: Document) -> str:
        source = stored_source(document, settings.data_dir, settings.max_extracted_chars)
        return (await pool.run(load_document, source)).text

    return read
