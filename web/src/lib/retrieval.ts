// What a question's view shows: its references and the chunks a configuration retrieved for
// it, gathered per document into the few windows of text that hold them (ranges near each
// other share a window), so the chunks are seen against the answer in the document's own text.

export interface RangeIn {
  document_id: string;
  start: number;
  end: number;
}

export interface RankedRange extends RangeIn {
  /** 1 for the most similar chunk. */
  rank: number;
  similarity: number;
}

export interface TextCluster {
  document_id: string;
  /** The window of text to read (code points; the end may pass the text's, the server stops there). */
  start: number;
  end: number;
  references: RangeIn[];
  retrieved: RankedRange[];
}

/** Characters of context shown around the ranges. */
export const CONTEXT = 160;

/**
 * The windows showing `references` and `retrieved`, per document (documents with a reference
 * first, in the order their references come; then the others, by their best rank), ranges
 * less than two contexts apart in one window.
 */
export function clusters(references: readonly RangeIn[], retrieved: readonly RankedRange[], context = CONTEXT): TextCluster[] {
  const order: string[] = [];
  const add = (id: string) => {
    if (!order.includes(id)) order.push(id);
  };
  references.forEach((r) => add(r.document_id));
  [...retrieved].sort((a, b) => a.rank - b.rank).forEach((r) => add(r.document_id));
  const out: TextCluster[] = [];
  for (const id of order) {
    const items = [
      ...references.filter((r) => r.document_id === id).map((r) => ({ kind: "reference" as const, range: r })),
      ...retrieved.filter((r) => r.document_id === id).map((r) => ({ kind: "retrieved" as const, range: r })),
    ].sort((a, b) => a.range.start - b.range.start || a.range.end - b.range.end);
    let current: TextCluster | null = null;
    let reach = -Infinity;
    for (const item of items) {
      if (!current || item.range.start > reach + 2 * context) {
        current = { document_id: id, start: Math.max(0, item.range.start - context), end: item.range.end + context, references: [], retrieved: [] };
        out.push(current);
        reach = item.range.end;
      }
      reach = Math.max(reach, item.range.end);
      current.end = Math.max(current.end, item.range.end + context);
      if (item.kind === "reference") current.references.push(item.range);
      else current.retrieved.push(item.range as RankedRange);
    }
  }
  return out;
}

/** Retrieved chunks with their rank (their place in the list, best first). */
export function ranked<T extends RangeIn & { similarity: number }>(retrieved: readonly T[]): RankedRange[] {
  return retrieved.map((r, k) => ({ document_id: r.document_id, start: r.start, end: r.end, similarity: r.similarity, rank: k + 1 }));
}
