// One document's chunks as a JSONL download, made in the page (the lines the collection's
// export writes for it: id, document, source, index, offsets, tokens, text, metadata).
import { api } from "../api/endpoints";
import type { DocumentOut, StoredChunk } from "../api/types";

export function chunkLines(doc: DocumentOut, chunks: readonly StoredChunk[]): string {
  return chunks
    .map((c) =>
      JSON.stringify({
        id: c.id,
        document_id: c.document_id,
        source: doc.filename,
        index: c.index,
        start: c.start,
        end: c.end,
        tokens: c.tokens,
        text: c.text,
        metadata: c.metadata,
      }),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** Download the document's chunks; the number of chunks (0: nothing was downloaded). */
export async function downloadDocumentChunks(doc: DocumentOut): Promise<number> {
  const chunks = await api.documentChunks(doc.id);
  if (!chunks.length) return 0;
  const url = URL.createObjectURL(new Blob([chunkLines(doc, chunks)], { type: "application/x-ndjson" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `${doc.filename.replace(/\.[^.]+$/, "")}.chunks.jsonl`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return chunks.length;
}
