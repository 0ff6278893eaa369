// Bins of chunk sizes for the histogram.

export interface Bin {
  /** Inclusive lower and upper bounds, in tokens. */
  low: number;
  high: number;
  /** Positions of the chunks in this bin. */
  members: number[];
}

/** The smallest and largest of several lists of sizes: one x-axis for several histograms. */
export interface Domain {
  min: number;
  max: number;
}

export function domainOf(lists: readonly (readonly number[])[]): Domain | null {
  let min = Infinity;
  let max = -Infinity;
  for (const list of lists) for (const size of list) {
    min = Math.min(min, size);
    max = Math.max(max, size);
  }
  return Number.isFinite(min) ? { min, max } : null;
}

/**
 * About `target` equal-width bins of whole tokens from the smallest to the largest size, or
 * over `domain` when given (so histograms side by side share their bins and x-axis).
 */
export function binSizes(sizes: readonly number[], target = 12, domain: Domain | null = null): Bin[] {
  if (sizes.length === 0) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const size of sizes) {
    min = Math.min(min, size);
    max = Math.max(max, size);
  }
  if (domain) {
    min = Math.min(min, domain.min);
    max = Math.max(max, domain.max);
  }
  const span = max - min + 1;
  const width = Math.max(1, Math.ceil(span / target));
  const count = Math.max(1, Math.ceil(span / width));
  const bins: Bin[] = Array.from({ length: count }, (_, k) => ({
    low: min + k * width,
    high: min + (k + 1) * width - 1,
    members: [],
  }));
  sizes.forEach((size, i) => {
    const k = Math.min(count - 1, Math.floor((size - min) / width));
    bins[k]!.members.push(i);
  });
  return bins;
}
