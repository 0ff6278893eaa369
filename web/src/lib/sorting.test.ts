import { describe, expect, it } from "vitest";

import type { DocumentOut } from "../api/types";
import { sortDocuments } from "./sorting";

function doc(filename: string, patch: Partial<DocumentOut> = {}): DocumentOut {
  return {
    id: `id-${filename}`,
    collection_id: "c-1",
    filename,
    status: "chunked",
    size_bytes: 100,
    content_sha256: "0".repeat(64),
    chunk_count: 1,
    characters: null,
    pages: null,
    tokens: null,
    error: null,
    chunked_with: null,
    chunked_at: null,
    stale: false,
    ...patch,
  };
}

describe("sortDocuments", () => {
  it("orders by a measured column, the documents not measured yet first, ties by name", () => {
    const docs = [doc("b.md", { tokens: 30 }), doc("a.pdf", { tokens: 30 }), doc("c.txt"), doc("d.md", { tokens: 5 })];
    expect(sortDocuments(docs, { key: "tokens", descending: false }).map((d) => d.filename)).toEqual([
      "c.txt",
      "d.md",
      "a.pdf",
      "b.md",
    ]);
    expect(sortDocuments(docs, { key: "tokens", descending: true }).map((d) => d.filename)).toEqual([
      "a.pdf",
      "b.md",
      "d.md",
      "c.txt",
    ]);
  });

  it("orders pages and characters as numbers, not as text", () => {
    const docs = [doc("x", { pages: 10, characters: 900 }), doc("y", { pages: 9, characters: 10_000 })];
    expect(sortDocuments(docs, { key: "pages", descending: false }).map((d) => d.filename)).toEqual(["y", "x"]);
    expect(sortDocuments(docs, { key: "characters", descending: false }).map((d) => d.filename)).toEqual(["x", "y"]);
  });
});
