// The server counts offsets in code points (Python string indices); a JavaScript string indexes
// UTF-16 code units, where a character outside the Basic Multilingual Plane (most emoji, some
// CJK) takes two. Offsets from the API are mapped to string indices before slicing, or every
// boundary after such a character would land one unit early.

import type { SpanLike } from "./segments";

const SURROGATE = /[\uD800-\uDFFF]/;
// The maps of the last few texts: every chunk of a document shares its document's.
const KEEP = 4;
const maps = new Map<string, (offset: number) => number>();

/**
 * A function from a code-point offset into `text` to the index of the same place in the
 * JavaScript string (offsets past the end map to its length). The identity when the text has
 * no surrogates, which is the common case and costs one scan.
 */
export function codePointIndex(text: string): (offset: number) => number {
  if (!SURROGATE.test(text)) return (offset) => Math.max(0, Math.min(text.length, offset));
  let map = maps.get(text);
  if (!map) {
    map = buildIndex(text);
    maps.set(text, map);
    while (maps.size > KEEP) maps.delete(maps.keys().next().value!);
  }
  return map;
}

function buildIndex(text: string): (offset: number) => number {
  // units[k] = the UTF-16 index of code point k; one more entry for the end.
  const units = new Uint32Array(text.length + 1);
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    units[count++] = i;
    const c = text.charCodeAt(i);
    // A valid pair is one code point (Python sees one); a lone surrogate is one on its own.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  units[count] = text.length;
  return (offset) => units[Math.max(0, Math.min(count, offset))]!;
}

/** `spans` with their offsets as indices into `text` (the same array when nothing moves). */
export function toStringSpans<T extends SpanLike>(text: string, spans: readonly T[]): readonly T[] {
  if (!SURROGATE.test(text)) return spans;
  const index = codePointIndex(text);
  return spans.map((span) => ({ ...span, start: index(span.start), end: index(span.end) }));
}

/**
 * The inverse of `codePointIndex`: the code-point offset (what the API counts) of the place at
 * UTF-16 index `index` of `text`. An index inside a surrogate pair counts the pair as passed.
 */
export function codePointOffset(text: string, index: number): number {
  const end = Math.max(0, Math.min(text.length, index));
  if (!SURROGATE.test(text)) return end;
  let count = 0;
  for (let i = 0; i < end; i++) {
    count++;
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return count;
}
