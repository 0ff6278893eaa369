// Chunks as a list: number, offsets, tokens, heading path, page, and the text (as text).
import type { Span } from "../api/types";
import { headingsOf, pageOf } from "../lib/format";

interface Props {
  chunks: readonly Span[];
  label: string;
  maxChars?: number;
}

export function ChunkList({ chunks, label, maxChars = 400 }: Props) {
  return (
    <ol className="chunk-list" aria-label={label}>
      {chunks.map((chunk) => (
        <li key={`${chunk.index}-${chunk.start}`} className="chunk-card">
          <ChunkMeta chunk={chunk} />
          <p className="chunk-text">
            {chunk.text.length > maxChars ? `${chunk.text.slice(0, maxChars)}…` : chunk.text}
          </p>
        </li>
      ))}
    </ol>
  );
}

export function ChunkMeta({ chunk, extra }: { chunk: Span; extra?: React.ReactNode }) {
  const headings = headingsOf(chunk.metadata);
  const page = pageOf(chunk.metadata);
  return (
    <p className="chunk-meta">
      <strong>§{chunk.index}</strong> <span>{chunk.tokens} tokens</span>{" "}
      <span>
        characters {chunk.start}–{chunk.end}
      </span>
      {page !== null ? <span> · page {page}</span> : null}
      {headings.length ? <span className="headings"> · {headings.join(" › ")}</span> : null}
      {extra}
    </p>
  );
}
