"""The evaluation job: score 1-6 chunking configurations by what they retrieve for a
collection's questions. It is an operation (kind `evaluation`) of one part, run by the same
job code as chunking (`jobs.py` claims the part, holds its lease and hands the claim here), so
it goes through the same queue, in both execution modes, with the same progress events,
cancel, retries and take-over.

Per configuration, every document the questions refer to is extracted and chunked in the
capped job processes (the hard token cap holds, and a document that needs too much memory
fails alone), its chunks' texts are embedded there too (`JobProcesses.embed`: the `local`
model's torch never loads in the API process or a worker) and only their spans, token counts
and vectors are kept. Each document is counted done (or failed) once per configuration, in its
own transaction, so progress moves and a cancel stops the job before the next document. No
chunk is stored: the collection's chunks stay as they were. At the end the scores
(`evaluation/results.py`) are stored and the operation completed in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.documents.stored import StoredFile, stored_file_of
from chunkyard.evaluation import evaluations
from chunkyard.evaluation.results import (
    Gathered,
    Matrix,
    normalised,
    question_entries,
    score_configuration,
)
from chunkyard.operations import parts
from chunkyard.operations.parts import Claim, Source
from chunkyard.storage.models import Operation
from chunkyard.worker.policy import document_error

if TYPE_CHECKING:
    from chunkyard.worker.jobs import _PartJob

logger = logging.getLogger("chunkyard.worker")

# Texts per embedding request: a child answers each in one message.
EMBED_BATCH = 256
# Embeds texts with the embedder a spec names, off the event loop: a float32 matrix.
Embed = Callable[[Any, list[str]], Awaitable[Matrix]]


def thread_embed(limiter: anyio.CapacityLimiter | None = None) -> Embed:
    """Embed in worker threads of this process (tests; no memory cap)."""

    async def embed(spec: Any, texts: list[str]) -> Matrix:
        from chunkyard.embedding import get_embedder

        def run() -> Matrix:
            return np.asarray(get_embedder(spec).embed(texts), dtype=np.float32)

        return await anyio.to_thread.run_sync(run, limiter=limiter)

    return embed


async def embed_all(embed: Embed, spec: Any, texts: list[str]) -> Matrix:
    """`texts` embedded `EMBED_BATCH` at a time, as one matrix."""
    rows = [await embed(spec, texts[i:i + EMBED_BATCH])
            for i in range(0, len(texts), EMBED_BATCH)]
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


class EvaluationJob:
    """One run of an evaluation's part; `job` is the part's job (its lease, chunker, counts)."""

    def __init__(self, job: _PartJob, embed: Embed) -> None:
        self.job = job
        self.embed = embed

    async def walk(self, session: AsyncSession, claim: Claim) -> bool:
        """Gather, score, store and finish; False once the job must stop (cancelled, failed,
        or the part taken over: nothing is stored)."""
        inputs = claim.config
        model = inputs.get("embedding_model", "static")
        k = int(inputs.get("k", 5))
        collection_id = await session.scalar(
            select(Operation.collection_id).where(Operation.id == claim.operation_id))
        await session.commit()
        evaluated = [d for d, source in claim.sources if source is not None]
        questions = await evaluations.questions_to_score(session, collection_id, evaluated)
        await session.commit()
        queries = normalised(await embed_all(self.embed, model, [q.text for q in questions]))
        summary: list[dict[str, Any]] = []
        per_question = question_entries(questions)
        for config in inputs.get("configs") or []:
            one = Gathered(dict(config))
            for _, source in claim.sources:
                if self.job.lease.lost or not await self._document(session, claim, one,
                                                                    source, model):
                    return False
            # Scored now, so only one configuration's embeddings are ever held.
            scores, scored = await anyio.to_thread.run_sync(
                score_configuration, one, questions, queries, k)
            del one
            summary.append(scores)
            for entry, item in zip(per_question, scored, strict=True):
                entry["configs"].append(item)
        ours, row = await parts.finish(session, self.job.lease, claim.operation_id)
        if not ours or row is None:
            await session.rollback()
            return False
        await evaluations.store_results(session, claim.operation_id, summary, per_question)
        await session.commit()
        await parts.announce(self.job.bus, row)
        logger.info("evaluation %s: %d configurations, %d questions, %d documents",
                    claim.operation_id, len(summary), len(questions), len(evaluated))
        return True

    async def _document(
        self, session: AsyncSession, claim: Claim, one: Gathered, source: Source | None,
        model: Any,
    ) -> bool:
        """Chunk and embed one document with one configuration, and count it."""
        if source is None:  # deleted since the evaluation started
            one.failures.append("a document was deleted during the evaluation")
            return await self.job.count_document(session, claim, failed=1)
        stored = stored_file_of(source, self.job.settings.data_dir,
                                max_extracted_chars=self.job.settings.max_extracted_chars)
        try:
            spans, tokens, texts = await self._chunks(stored, one.config)
            vectors = await embed_all(self.embed, model, texts)
        except Exception as exc:
            if self.job.goes_on(exc):
                raise
            reason = document_error(exc)
            logger.warning("evaluation %s: document %s (%s) failed: %s", claim.operation_id,
                           source.id, source.filename, reason)
            one.failures.append(f"{source.filename}: {reason}")
            return await self.job.count_document(session, claim, failed=1)
        one.add(spans, tokens, vectors)
        return await self.job.count_document(session, claim, done=1, chunks=len(spans))

    async def _chunks(
        self, stored: StoredFile, config: dict[str, Any]
    ) -> tuple[list[tuple[str, int, int]], int, list[str]]:
        """The document's chunks under `config`: spans, total tokens, texts."""
        document = str(stored.id)
        spans: list[tuple[str, int, int]] = []
        texts: list[str] = []
        tokens = 0
        async with self.job.chunker(stored, config) as chunked:
            async for batch in chunked.batches:
                for chunk in batch:
                    spans.append((document, chunk.start, chunk.end))
                    texts.append(chunk.text)
                    tokens += chunk.tokens
        return spans, tokens, texts
