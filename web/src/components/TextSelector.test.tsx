// Marking an answer in a document's text: a selection made in the page becomes a reference's
// range in code points of the whole text (what the API counts), not in the UTF-16 units the DOM
// counts, so a character outside the BMP before it (an emoji) moves nothing; whitespace at its
// ends is left out; a window that starts later in the text adds its start.
import { fireEvent, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { DocumentText } from "../api/types";
import { codePointOffset } from "../lib/offsets";

const api = {
  documentTextWindow: vi.fn<(id: string, start: number, end: number | null) => Promise<DocumentText>>(),
};
vi.mock("../api/endpoints", () => ({ api }));

const { TextSelector } = await import("./TextSelector");
const { renderWithQueries } = await import("../test/render");

// "😀" and "𝄞" are one code point each (two UTF-16 units): the answer starts 2 units later in
// the DOM than in the API's count.
const TEXT = "Intro 😀 and 𝄞: the answer is forty-two.\n\nMore text after it.";

function windowOf(text: string, start = 0, size = [...text].length + start): DocumentText {
  return { document_id: "d1", filename: "notes.txt", kind: "text", text, size_chars: size, start, end: start + [...text].length };
}

/** Select units [from, to) of the region's text, across its text nodes, as a mouse would. */
function select(region: HTMLElement, from: number, to: number) {
  const walker = document.createTreeWalker(region, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const length = node.textContent!.length;
    if (from >= seen && from <= seen + length) range.setStart(node, from - seen);
    if (to >= seen && to <= seen + length) {
      range.setEnd(node, to - seen);
      break;
    }
    seen += length;
  }
  const selection = document.getSelection()!;
  selection.removeAllRanges();
  selection.addRange(range);
  fireEvent.mouseUp(region);
}

const picked = () => screen.getByTestId("picked");

describe("TextSelector", () => {
  beforeEach(() => {
    api.documentTextWindow.mockReset();
    document.getSelection()?.removeAllRanges();
  });

  it("turns a selection after an emoji into code points of the text", async () => {
    api.documentTextWindow.mockResolvedValue(windowOf(TEXT));
    const onPick = vi.fn();
    renderWithQueries(<TextSelector documentId="d1" filename="notes.txt" marked={[]} onPick={onPick} idPrefix="t" />);
    const region = await screen.findByRole("region", { name: "Text of notes.txt" });
    expect(region.textContent).toBe(TEXT);

    const units = TEXT.indexOf("the answer");
    select(region, units, units + "the answer is forty-two.".length);
    // In units it starts at 17; the API counts 15 (two characters of two units each before it).
    expect(units).toBe(17);
    expect(picked().dataset.start).toBe("15");
    expect(picked().dataset.end).toBe(String(15 + "the answer is forty-two.".length));
    expect(picked().textContent).toBe("Selected: characters 15–39, “the answer is forty-two.”");
    expect([...TEXT].slice(15, 39).join("")).toBe("the answer is forty-two.");

    fireEvent.click(screen.getByRole("button", { name: "Add the selection as a reference" }));
    expect(onPick).toHaveBeenCalledWith({ start: 15, end: 39, excerpt: "the answer is forty-two." });
    // Once added, nothing is selected: the button waits for the next selection.
    expect(picked().textContent).toBe("Nothing selected yet.");
    expect((screen.getByRole("button", { name: "Add the selection as a reference" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("leaves out the whitespace at the ends, selects across a marked reference, and adds the window's start", async () => {
    // The window starts at code point 1000 of the whole text, itself after an emoji.
    api.documentTextWindow.mockResolvedValue(windowOf(TEXT, 1000, 5000));
    const onPick = vi.fn();
    // A reference already marked over "𝄞" (code points 1012-1013): the text is split into
    // several nodes there.
    renderWithQueries(<TextSelector documentId="d1" filename="notes.txt" marked={[{ start: 1012, end: 1013 }]} onPick={onPick} idPrefix="t" />);
    const region = await screen.findByRole("region", { name: "Text of notes.txt" });
    expect(region.querySelector("mark.reference-mark")!.textContent).toBe("𝄞");
    expect(region.textContent).toBe(TEXT);

    // From the space before "and" to past the blank lines: " and 𝄞: the answer is forty-two.\n\n".
    const from = TEXT.indexOf(" and");
    const to = TEXT.indexOf("More");
    select(region, from, to);
    const start = 1000 + codePointOffset(TEXT, from + 1);
    const end = 1000 + codePointOffset(TEXT, TEXT.indexOf("\n"));
    expect([start, end]).toEqual([1008, 1039]);
    fireEvent.click(screen.getByRole("button", { name: "Add the selection as a reference" }));
    expect(onPick).toHaveBeenCalledWith({ start: 1008, end: 1039, excerpt: "and 𝄞: the answer is forty-two." });
    expect(api.documentTextWindow).toHaveBeenCalledWith("d1", 0, 20_000, expect.anything());
  });

  it("finds typed words in the text, for a user without a mouse", async () => {
    api.documentTextWindow.mockResolvedValue(windowOf(TEXT));
    const onPick = vi.fn();
    renderWithQueries(<TextSelector documentId="d1" filename="notes.txt" marked={[]} onPick={onPick} idPrefix="t" />);
    await screen.findByRole("region", { name: "Text of notes.txt" });
    fireEvent.change(screen.getByLabelText("Or find the words in the text"), { target: { value: "no such words" } });
    fireEvent.click(screen.getByRole("button", { name: "Find" }));
    expect(screen.getByText("“no such words” is not in the text shown.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Or find the words in the text"), { target: { value: "forty-two" } });
    fireEvent.keyDown(screen.getByLabelText("Or find the words in the text"), { key: "Enter" });
    expect(picked().dataset.start).toBe(String([...TEXT.slice(0, TEXT.indexOf("forty-two"))].length));
    fireEvent.click(screen.getByRole("button", { name: "Add the selection as a reference" }));
    expect(onPick).toHaveBeenCalledWith({ start: 29, end: 38, excerpt: "forty-two" });
  });

  it("says nothing is selected for a selection outside the text", async () => {
    api.documentTextWindow.mockResolvedValue(windowOf(TEXT));
    renderWithQueries(
      <>
        <p>Elsewhere on the page</p>
        <TextSelector documentId="d1" filename="notes.txt" marked={[]} onPick={() => undefined} idPrefix="t" />
      </>,
    );
    const region = await screen.findByRole("region", { name: "Text of notes.txt" });
    const range = document.createRange();
    range.selectNodeContents(screen.getByText("Elsewhere on the page"));
    document.getSelection()!.addRange(range);
    fireEvent.mouseUp(region);
    expect(picked().textContent).toBe("Nothing selected yet.");
  });
});
