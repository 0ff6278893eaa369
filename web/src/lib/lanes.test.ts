import { describe, expect, it } from "vitest";
import { agreement, cutsOf, laneSegments, piecesOf } from "./lanes";

const A = [
  { start: 0, end: 10 },
  { start: 10, end: 20 },
];
const B = [
  { start: 0, end: 5 },
  { start: 5, end: 20 },
];

describe("lanes", () => {
  it("merges every configuration's chunk starts into one list of cuts", () => {
    expect(cutsOf(20, [A, null, B])).toEqual([
      { at: 0, lanes: [0, 2] },
      { at: 5, lanes: [2] },
      { at: 10, lanes: [0] },
    ]);
  });

  it("cuts one copy of the text into pieces, each opened by its cut", () => {
    const cuts = cutsOf(20, [A, B]);
    expect(piecesOf(20, cuts).map((p) => [p.start, p.end, p.cut?.lanes ?? null])).toEqual([
      [0, 5, [0, 1]],
      [5, 10, [1]],
      [10, 20, [0]],
    ]);
    // Text before the first chunk is a piece of its own.
    expect(piecesOf(20, cutsOf(20, [[{ start: 4, end: 20 }]])).map((p) => [p.start, p.end])).toEqual([
      [0, 4],
      [4, 20],
    ]);
  });

  it("places each lane's chunks on the same axis (percent of the text)", () => {
    expect(laneSegments(20, A)).toEqual([
      { position: 0, left: 0, width: 50 },
      { position: 1, left: 50, width: 50 },
    ]);
    expect(laneSegments(20, B)[1]).toEqual({ position: 1, left: 25, width: 75 });
  });

  it("counts where the configurations agree and where they differ", () => {
    expect(agreement(cutsOf(20, [A, B]), [0, 1])).toEqual({ shared: 1, differing: 2 });
  });
});
