import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { binSizes } from "../lib/histogram";
import { Histogram } from "./Histogram";

describe("binSizes", () => {
  it("puts every size in one bin of whole-token bounds", () => {
    const bins = binSizes([10, 12, 30, 31, 50], 4);
    expect(bins.map((b) => [b.low, b.high, b.members])).toEqual([
      [10, 20, [0, 1]],
      [21, 31, [2, 3]],
      [32, 42, []],
      [43, 53, [4]],
    ]);
  });
});

describe("Histogram", () => {
  it("is one tab stop, moved with the arrow keys, and selects a bar with Enter or a click", () => {
    const onSelect = vi.fn();
    render(<Histogram sizes={[10, 12, 30, 31, 50]} label="Sizes" onSelect={onSelect} />);
    const bars = screen.getAllByRole("button");
    expect(bars.map((b) => b.getAttribute("tabindex"))).toEqual(bars.map((_, k) => (k === 0 ? "0" : "-1")));
    // The visible count and lower bound, with the words a screen reader needs around them.
    expect(bars[0]!.textContent).toBe("2 chunks of 10–13 tokens");
    expect(bars.at(-1)!.textContent).toBe("1 chunk of 50–53 tokens");
    bars[0]!.focus();
    fireEvent.keyDown(bars[0]!, { key: "ArrowRight" });
    expect(document.activeElement).toBe(bars[1]);
    fireEvent.keyDown(bars[1]!, { key: "End" });
    expect(document.activeElement).toBe(bars[bars.length - 1]);
    fireEvent.keyDown(bars[bars.length - 1]!, { key: "Home" });
    expect(document.activeElement).toBe(bars[0]);
    fireEvent.click(bars[0]!);
    expect(onSelect).toHaveBeenCalledWith(expect.objectContaining({ members: [0, 1] }), 0);
  });
});
