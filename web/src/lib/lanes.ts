// The layout of a side-by-side compare: the boundaries of every configuration on one copy of
// the text. Cuts are where any configuration starts a chunk (with which ones do); lane
// segments place each configuration's chunks along one shared axis, so the lanes line up.
import type { SpanLike } from "./segments";

export interface Cut {
  /** String index in the text. */
  at: number;
  /** The lanes (configuration positions) with a chunk starting here, ascending. */
  lanes: number[];
}

/** Every chunk start of every lane, merged: one cut per position. A failed lane is null. */
export function cutsOf(length: number, lanes: readonly (readonly SpanLike[] | null)[]): Cut[] {
  const at = new Map<number, Set<number>>();
  lanes.forEach((spans, lane) => {
    for (const span of spans ?? []) {
      const start = Math.max(0, Math.min(length, span.start));
      if (span.end <= span.start) continue;
      let set = at.get(start);
      if (!set) at.set(start, (set = new Set()));
      set.add(lane);
    }
  });
  return [...at.entries()].sort((a, b) => a[0] - b[0]).map(([pos, set]) => ({ at: pos, lanes: [...set].sort((a, b) => a - b) }));
}

/** The text between cuts: [start, end) pieces, the cut (if any) that opens each. */
export function piecesOf(length: number, cuts: readonly Cut[]): { start: number; end: number; cut: Cut | null }[] {
  const pieces: { start: number; end: number; cut: Cut | null }[] = [];
  let last = 0;
  if (!cuts.length || cuts[0]!.at > 0) pieces.push({ start: 0, end: cuts[0]?.at ?? length, cut: null });
  cuts.forEach((cut, k) => {
    const end = cuts[k + 1]?.at ?? length;
    pieces.push({ start: cut.at, end, cut });
    last = end;
  });
  if (last < length && cuts.length) pieces[pieces.length - 1]!.end = length;
  return pieces.filter((p) => p.end > p.start || p.cut !== null);
}

export interface LaneSegment {
  /** Position of the chunk in its lane. */
  position: number;
  /** Percent of the text's length. */
  left: number;
  width: number;
}

/** A lane's chunks along the shared axis (percent of the text), at least a sliver wide. */
export function laneSegments(length: number, spans: readonly SpanLike[]): LaneSegment[] {
  if (length <= 0) return [];
  return spans.map((span, position) => {
    const start = Math.max(0, Math.min(length, span.start));
    const end = Math.max(start, Math.min(length, span.end));
    return { position, left: (start / length) * 100, width: Math.max(0.15, ((end - start) / length) * 100) };
  });
}

/** How many of each lane's cuts every working lane shares (where they agree), and the rest. */
export function agreement(cuts: readonly Cut[], working: readonly number[]): { shared: number; differing: number } {
  let shared = 0;
  let differing = 0;
  for (const cut of cuts) {
    if (working.length > 1 && working.every((lane) => cut.lanes.includes(lane))) shared++;
    else differing++;
  }
  return { shared, differing };
}
