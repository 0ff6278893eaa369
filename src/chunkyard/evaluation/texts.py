"""The extracted text of a collection's document, read in the app's capped chunking processes
(as the text view and previews read it), so that a reference's offsets are checked against the
same text its chunks index."""

from __future__ import annotations

from chunkyard.chunking.pool import ChunkingPool
from chunkyard.documents.stored import load_document, stored_file_of
from chunkyard.evaluation.questions import TextReader
from chunkyard.settings import Settings
from chunkyard.storage.models import Document


def text_reader(pool: ChunkingPool, settings: Settings) -> TextReader:
    async def read(document: Document) -> str:
        source = stored_file_of(document, settings.data_dir,
                                max_extracted_chars=settings.max_extracted_chars)
        return (await pool.run(load_document, source)).text

    return read
