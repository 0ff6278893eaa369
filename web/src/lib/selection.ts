// What the user selected in a text shown on the page, as a range of that text: first as
// UTF-16 indices (what the DOM counts), then as code points (what the API counts: a reference's
// `start` and `end` are code points of the document's extracted text, so every character after
// an emoji would land one place off if the DOM's count were sent).
import { codePointOffset } from "./offsets";

export interface TextRange {
  start: number;
  end: number;
}

/**
 * The part of `container`'s text the selection covers, as UTF-16 indices into
 * `container.textContent`, clipped to the container; null when nothing of it is selected.
 * The container must hold the text alone (text nodes, any elements around them, no other text).
 */
export function selectedUnits(container: Node, selection: Selection | null): TextRange | null {
  if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
  const range = selection.getRangeAt(0);
  if (!range.intersectsNode(container)) return null;
  const length = (container.textContent ?? "").length;
  const doc = container.ownerDocument ?? document;
  const unitsBefore = (node: Node, offset: number): number => {
    const before = doc.createRange();
    before.selectNodeContents(container);
    before.setEnd(node, offset);
    return before.toString().length;
  };
  // A selection that starts before the container (or ends after it) takes it from its start
  // (or to its end).
  const start = container.contains(range.startContainer) ? unitsBefore(range.startContainer, range.startOffset) : 0;
  const end = container.contains(range.endContainer) ? unitsBefore(range.endContainer, range.endOffset) : length;
  return end > start ? { start, end } : null;
}

/** `range` of `text` without the whitespace at its ends (null when only whitespace is left). */
export function trimRange(text: string, range: TextRange): TextRange | null {
  let { start, end } = range;
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return end > start ? { start, end } : null;
}

/** A UTF-16 range of `text` as code points of the whole text `text` starts at `offset` of. */
export function toCodePoints(text: string, range: TextRange, offset = 0): TextRange {
  return { start: offset + codePointOffset(text, range.start), end: offset + codePointOffset(text, range.end) };
}

/**
 * The selection inside `container` (which shows `text`, the window of a document's text that
 * starts at code point `offset`) as a reference's range: code points of the whole text,
 * whitespace at its ends left out. Null when nothing of the text is selected.
 */
export function selectedReference(container: Node, selection: Selection | null, text: string, offset = 0): TextRange | null {
  const units = selectedUnits(container, selection);
  if (!units) return null;
  const trimmed = trimRange(text, units);
  return trimmed ? toCodePoints(text, trimmed, offset) : null;
}
