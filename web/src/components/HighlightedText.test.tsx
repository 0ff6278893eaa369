import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Span } from "../api/types";
import { codePointIndex, toStringSpans } from "../lib/offsets";
import { segmentText } from "../lib/segments";
import { HighlightedText } from "./HighlightedText";

function span(index: number, text: string, start: number, end: number): Span {
  return { index, start, end, tokens: end - start, text: text.slice(start, end), metadata: {} };
}

describe("segmentText", () => {
  it("cuts at every boundary and knows the chunks over each piece", () => {
    // chunk 0: [0, 10), chunk 1: [6, 16) (overlap 6..10), gap 16..18, chunk 2: [18, 20)
    const segments = segmentText(20, [
      { start: 0, end: 10 },
      { start: 6, end: 16 },
      { start: 18, end: 20 },
    ]);
    expect(segments.map((s) => [s.start, s.end, s.chunks, s.starts])).toEqual([
      [0, 6, [0], [0]],
      [6, 10, [0, 1], [1]],
      [10, 16, [1], []],
      [16, 18, [], []],
      [18, 20, [2], [2]],
    ]);
  });

});

describe("code-point offsets", () => {
  // The server counts code points: "a😀b" is 3 long there, 4 here.
  const text = "a😀b\n\n\ncafé 𝄞 end";

  it("maps the server's offsets to string indices", () => {
    const index = codePointIndex(text);
    const points = [...text];
    for (let k = 0; k <= points.length; k++) {
      expect(index(k)).toBe(points.slice(0, k).join("").length);
    }
    expect(index(points.length + 5)).toBe(text.length);
    // A lone surrogate is one code point, as in Python.
    const lone = "x\uD800y";
    expect([0, 1, 2, 3].map(codePointIndex(lone))).toEqual([0, 1, 2, 3]);
  });

  it("leaves spans alone when no character takes two units", () => {
    const spans = [{ start: 0, end: 3 }];
    expect(toStringSpans("plain text", spans)).toBe(spans);
  });

  it("draws boundaries on the real text after astral characters", () => {
    const points = [...text];
    // Chunks as the server gives them: code-point offsets, with the blank lines between them.
    const first = { index: 0, start: 0, end: 3, tokens: 2, text: points.slice(0, 3).join(""), metadata: {} };
    const second = { index: 1, start: 6, end: points.length, tokens: 4, text: points.slice(6).join(""), metadata: {} };
    const { container } = render(<HighlightedText text={text} chunks={[first, second]} idPrefix="u" />);
    const segs = [...container.querySelectorAll(".seg")].map((el) => [el.className, el.textContent]);
    expect(segs).toEqual([
      ["seg seg-even", "a😀b"],
      ["seg seg-gap", "\n\n\n"],
      ["seg seg-odd", "café 𝄞 end"],
    ]);
  });
});

describe("HighlightedText", () => {
  const payload = `<script>window.__xss = 1</script><img src=x onerror="window.__xss=1"> tail`;

  it("renders document text as text, never as HTML", () => {
    const chunks = [span(0, payload, 0, 40), span(1, payload, 40, payload.length)];
    const { container } = render(<HighlightedText text={payload} chunks={chunks} idPrefix="t" />);
    const region = container.querySelector(".source-text")!;
    expect(region.querySelector("script")).toBeNull();
    expect(region.querySelector("img")).toBeNull();
    // The whole payload is there, character for character, around the boundary badges.
    const text = [...region.querySelectorAll(".seg")].map((el) => el.textContent).join("");
    expect(text).toBe(payload);
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
  });

  it("marks every chunk start with its number and tokens, and shades overlaps", () => {
    const text = "0123456789abcdefghij";
    const chunks = [span(0, text, 0, 12), span(1, text, 8, 20)];
    const { container } = render(<HighlightedText text={text} chunks={chunks} idPrefix="t" />);
    const markers = [...container.querySelectorAll(".boundary")];
    expect(markers.map((m) => m.textContent)).toEqual(["§0 · 12 tok", "§1 · 12 tok"]);
    expect(markers.map((m) => m.id)).toEqual(["t-chunk-0", "t-chunk-1"]);
    const overlaps = [...container.querySelectorAll("mark.seg-overlap")];
    expect(overlaps.map((m) => m.textContent)).toEqual(["89ab"]);
    expect(overlaps[0]!.getAttribute("title")).toBe("Overlap of chunks 0 and 1");
    // Neighbouring chunks differ in more than colour: alternate classes carry an edge rule.
    expect(container.querySelector(".seg-even")!.textContent).toBe("01234567");
    expect(container.querySelector(".seg-odd")!.textContent).toBe("cdefghij");
  });

  it("emphasises the chunks of a selected histogram bin", () => {
    const text = "aaaa bbbb cccc";
    const chunks = [span(0, text, 0, 5), span(1, text, 5, 10), span(2, text, 10, 14)];
    const { container } = render(<HighlightedText text={text} chunks={chunks} idPrefix="t" emphasised={new Set([1])} />);
    expect([...container.querySelectorAll(".seg-emphasis")].map((e) => e.textContent)).toEqual(["bbbb "]);
  });
});
