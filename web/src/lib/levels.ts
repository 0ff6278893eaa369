// Hierarchical chunks by level: parents and leaves apart (each level tiles the text on its
// own), with each level's own size statistics instead of a mix of both.
import type { Span } from "../api/types";

export interface LevelStats {
  count: number;
  mean: number;
  min: number;
  max: number;
  p95: number;
}

export interface Level<T extends Span = Span> {
  level: number;
  name: string;
  chunks: T[];
  stats: LevelStats;
}

export function statsOf(tokens: readonly number[]): LevelStats {
  if (!tokens.length) return { count: 0, mean: 0, min: 0, max: 0, p95: 0 };
  const sorted = [...tokens].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    mean: Math.round((sum / sorted.length) * 10) / 10,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    p95: sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!,
  };
}

/** The chunks by `metadata.level` (0 = the top parents), or null when they are all one level. */
export function levelsOf<T extends Span>(chunks: readonly T[]): Level<T>[] | null {
  const by = new Map<number, T[]>();
  for (const chunk of chunks) {
    const level = chunk.metadata["level"];
    if (typeof level !== "number") return null;
    let list = by.get(level);
    if (!list) by.set(level, (list = []));
    list.push(chunk);
  }
  if (by.size < 2) return null;
  const levels = [...by.keys()].sort((a, b) => a - b);
  const deepest = levels[levels.length - 1]!;
  return levels.map((level) => {
    const list = by.get(level)!;
    const name = level === deepest ? `Level ${level}: leaves` : level === 0 ? `Level ${level}: top parents` : `Level ${level}: parents`;
    return { level, name, chunks: list, stats: statsOf(list.map((c) => c.tokens)) };
  });
}
