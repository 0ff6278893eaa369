import { describe, expect, it } from "vitest";
import { filtersFrom, matchParts, NO_FILTERS } from "./chunkFilters";

describe("chunk filters", () => {
  it("sends only what is filled in, as the API's names and types", () => {
    expect(filtersFrom(NO_FILTERS)).toEqual({ filters: {}, error: null });
    expect(filtersFrom({ q: " overlap ", documentId: "d1", minTokens: "10", maxTokens: "", heading: "Install" })).toEqual({
      filters: { q: "overlap", document_id: "d1", min_tokens: 10, heading: "Install" },
      error: null,
    });
  });

  it("says what is wrong with token bounds", () => {
    expect(filtersFrom({ ...NO_FILTERS, minTokens: "-1" }).error).toBe("The smallest size must be a whole number of tokens, 0 or more.");
    expect(filtersFrom({ ...NO_FILTERS, minTokens: "50", maxTokens: "10" }).error).toBe("The smallest size must not be above the largest.");
  });

  it("marks every match, ignoring case and taking the text literally", () => {
    expect(matchParts("Chunk a CHUNK, chunk.", "chunk").filter((p) => p.match).map((p) => p.text)).toEqual(["Chunk", "CHUNK", "chunk"]);
    expect(matchParts("a.b axb", ".").filter((p) => p.match)).toHaveLength(1);
    expect(matchParts("nothing here", "zzz")).toEqual([{ text: "nothing here", match: false }]);
  });
});
