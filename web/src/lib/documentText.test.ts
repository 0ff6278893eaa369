import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";

const fetchText = vi.fn();
vi.mock("../api/endpoints", () => ({ api: { documentText: (id: string) => fetchText(id) } }));

const { documentText, forgetDocumentTexts } = await import("./documentText");

const body = (id: string) => ({ document_id: id, filename: `${id}.md`, kind: "markdown", text: `text of ${id}\n\n\n`, size_chars: 12 });

describe("documentText", () => {
  beforeEach(() => {
    forgetDocumentTexts();
    fetchText.mockReset();
    fetchText.mockImplementation((id: string) => Promise.resolve(body(id)));
  });

  it("fetches a document's text once, however often it is asked for", async () => {
    const [a, b] = await Promise.all([documentText("d1"), documentText("d1")]);
    expect(await documentText("d1")).toBe(a);
    expect(b.text).toBe("text of d1\n\n\n");
    expect(fetchText).toHaveBeenCalledTimes(1);
  });

  it("keeps a few documents, the most recently used", async () => {
    for (const id of ["d1", "d2", "d3", "d4"]) await documentText(id);
    await documentText("d1"); // used again: d2 is now the oldest
    await documentText("d5");
    fetchText.mockClear();
    await documentText("d1");
    expect(fetchText).not.toHaveBeenCalled();
    await documentText("d2");
    expect(fetchText).toHaveBeenCalledWith("d2");
  });

  it("asks again after a failure, and forgets everything when the session ends", async () => {
    fetchText.mockRejectedValueOnce(new ApiError(409, "document_unreadable", "gone"));
    await expect(documentText("d1")).rejects.toThrow("gone");
    expect((await documentText("d1")).filename).toBe("d1.md");
    forgetDocumentTexts();
    await documentText("d1");
    expect(fetchText).toHaveBeenCalledTimes(3);
  });
});
