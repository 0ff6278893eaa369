// Chunk boundaries over a source text: the text is cut at every chunk start and end into
// segments, each knowing which chunks cover it (two or more: an overlap; none: a gap the
// strategy skipped, whitespace only).

export interface SpanLike {
  start: number;
  end: number;
}

export interface Segment {
  start: number;
  end: number;
  /** Positions (in the given list) of the chunks covering this segment, ascending. */
  chunks: number[];
  /** Positions of the chunks that start exactly at this segment's start. */
  starts: number[];
}

export function segmentText(length: number, spans: readonly SpanLike[]): Segment[] {
  const cuts = new Set<number>([0, length]);
  const startsAt = new Map<number, number[]>();
  spans.forEach((span, i) => {
    const start = clamp(span.start, 0, length);
    const end = clamp(span.end, 0, length);
    if (end <= start) return;
    cuts.add(start);
    cuts.add(end);
    const list = startsAt.get(start);
    if (list) list.push(i);
    else startsAt.set(start, [i]);
  });
  const points = [...cuts].sort((a, b) => a - b);
  const segments: Segment[] = [];
  // Sweep: spans sorted by start; the active set is small (overlaps are neighbours).
  const order = spans
    .map((span, i) => ({ i, start: clamp(span.start, 0, length), end: clamp(span.end, 0, length) }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start || a.i - b.i);
  let next = 0;
  let active: { i: number; end: number }[] = [];
  for (let p = 0; p + 1 < points.length; p++) {
    const start = points[p]!;
    const end = points[p + 1]!;
    while (next < order.length && order[next]!.start <= start) {
      active.push({ i: order[next]!.i, end: order[next]!.end });
      next++;
    }
    active = active.filter((a) => a.end > start);
    segments.push({
      start,
      end,
      chunks: active.map((a) => a.i).sort((a, b) => a - b),
      starts: startsAt.get(start) ?? [],
    });
  }
  return segments;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
