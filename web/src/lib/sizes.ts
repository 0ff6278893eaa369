// The chunk-size control's numbers: a scale that spends its length where sizes are chosen
// (about log-even steps, 64 to 2048 in the middle half), quick picks, and what a number of
// tokens is in characters for the chosen tokenizer.

/** The sizes the slider stops at: whole, round numbers, about a quarter-octave apart. */
export const SIZE_STEPS: readonly number[] = [
  16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792,
  2048, 2560, 3072, 4096, 5120, 6144, 8192,
];

/** Sizes offered as one-click buttons. */
export const QUICK_SIZES: readonly number[] = [128, 256, 512, 1024, 2048];

/** The slider steps within [min, max]. */
export function sizeSteps(min: number | null, max: number | null): number[] {
  return SIZE_STEPS.filter((s) => (min === null || s >= min) && (max === null || s <= max));
}

/** The step nearest to `value` (on a log scale). */
export function nearestStep(steps: readonly number[], value: number): number {
  if (!steps.length) return 0;
  let best = 0;
  for (let k = 1; k < steps.length; k++) {
    if (Math.abs(Math.log(steps[k]! / value)) < Math.abs(Math.log(steps[best]! / value))) best = k;
  }
  return best;
}

/** Characters per token, roughly, for English prose. */
export function charsPerToken(tokenizer: string): number {
  if (tokenizer === "chars") return 1;
  if (tokenizer === "words") return 6;
  return 4; // cl100k, o200k and most subword tokenizers
}

/** "about 2,000 characters" for `tokens` under `tokenizer`. */
export function aboutChars(tokens: number, tokenizer: string): string {
  const chars = tokens * charsPerToken(tokenizer);
  if (tokenizer === "chars") return `${chars.toLocaleString("en-US")} characters`;
  const rounded = chars >= 1000 ? Math.round(chars / 100) * 100 : Math.round(chars / 10) * 10;
  return `about ${rounded.toLocaleString("en-US")} characters`;
}
