// The documents table's order: by any column, ties by file name (so the order is stable).
import type { DocumentOut } from "../api/types";
import { describeConfig } from "./format";

export interface DocumentSort {
  key: "filename" | "status" | "size_bytes" | "pages" | "characters" | "tokens" | "chunk_count" | "chunked_with";
  descending: boolean;
}

function valueOf(doc: DocumentOut, key: DocumentSort["key"]): string | number {
  if (key === "chunked_with") return doc.chunked_with ? describeConfig(doc.chunked_with) : "";
  // Measured when a document is chunked: one not measured yet sorts before every number.
  if (key === "pages" || key === "characters" || key === "tokens") return doc[key] ?? -1;
  return doc[key];
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

export function sortDocuments(documents: readonly DocumentOut[], sort: DocumentSort): DocumentOut[] {
  const sign = sort.descending ? -1 : 1;
  return [...documents].sort((a, b) => {
    const x = valueOf(a, sort.key);
    const y = valueOf(b, sort.key);
    const order = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(String(x), String(y));
    return order * sign || collator.compare(a.filename, b.filename) || a.id.localeCompare(b.id);
  });
}
