import { describe, expect, it } from "vitest";
import { levelsOf, statsOf } from "./levels";

const span = (index: number, start: number, end: number, tokens: number, level?: number) => ({
  index, start, end, tokens, text: "", metadata: level === undefined ? {} : { level },
});

describe("levelsOf", () => {
  it("puts parents and leaves in levels of their own, each with its own sizes", () => {
    const chunks = [span(0, 0, 100, 1900, 0), span(1, 0, 50, 500, 1), span(2, 50, 100, 480, 1)];
    const levels = levelsOf(chunks)!;
    expect(levels.map((l) => [l.name, l.chunks.map((c) => c.index)])).toEqual([
      ["Level 0: top parents", [0]],
      ["Level 1: leaves", [1, 2]],
    ]);
    // The leaves' largest is a leaf's, not the parent's 1,900.
    expect(levels[1]!.stats).toEqual({ count: 2, mean: 490, min: 480, max: 500, p95: 500 });
  });

  it("is null for chunks of one level or without levels", () => {
    expect(levelsOf([span(0, 0, 5, 3, 1), span(1, 5, 9, 3, 1)])).toBeNull();
    expect(levelsOf([span(0, 0, 5, 3)])).toBeNull();
    expect(statsOf([])).toEqual({ count: 0, mean: 0, min: 0, max: 0, p95: 0 });
  });
});
