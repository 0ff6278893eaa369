import { describe, expect, it } from "vitest";
import { clusters, ranked } from "./retrieval";

describe("clusters", () => {
  it("puts ranges near each other in one window and far ones in their own, documents with references first", () => {
    const refs = [{ document_id: "b", start: 1000, end: 1050 }];
    const retrieved = ranked([
      { document_id: "a", start: 0, end: 100, similarity: 0.9 }, // rank 1, another document
      { document_id: "b", start: 1040, end: 1200, similarity: 0.8 }, // rank 2, over the reference
      { document_id: "b", start: 5000, end: 5100, similarity: 0.7 }, // rank 3, far from it
      { document_id: "b", start: 1300, end: 1400, similarity: 0.6 }, // rank 4, within two contexts
    ]);
    const out = clusters(refs, retrieved, 100);
    expect(out.map((c) => [c.document_id, c.start, c.end, c.references.length, c.retrieved.map((r) => r.rank)])).toEqual([
      ["b", 900, 1500, 1, [2, 4]],
      ["b", 4900, 5200, 0, [3]],
      ["a", 0, 200, 0, [1]],
    ]);
  });

  it("gives a reference nothing retrieved its own window", () => {
    const out = clusters([{ document_id: "d", start: 10, end: 20 }], [], 160);
    expect(out).toEqual([{ document_id: "d", start: 0, end: 180, references: [{ document_id: "d", start: 10, end: 20 }], retrieved: [] }]);
  });
});
