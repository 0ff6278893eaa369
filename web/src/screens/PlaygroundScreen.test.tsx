// The playground against a mocked API: the preview follows the parameters, a document's text is
// fetched once however often they change, and a refused preview says why in the server's
// words while the last preview stays.
import { fireEvent, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Source } from "../api/endpoints";
import type { Collection, DocumentOut, DocumentText, PreviewResponse, Strategy } from "../api/types";

const TEXT = "First part.\n\nSecond part.";

const STRATEGIES: Strategy[] = [
  {
    name: "recursive",
    description: "Splits by paragraphs, then sentences.",
    params_schema: {
      type: "object",
      properties: { chunk_size: { type: "integer", title: "Chunk Size", default: 512, minimum: 16, maximum: 8192 } },
    },
    available: true,
  },
];

const api = {
  strategies: vi.fn<() => Promise<Strategy[]>>(),
  collections: vi.fn<() => Promise<Partial<Collection>[]>>(),
  documents: vi.fn<(id: string) => Promise<Partial<DocumentOut>[]>>(),
  document: vi.fn<(id: string) => Promise<Partial<DocumentOut>>>(),
  documentText: vi.fn<(id: string) => Promise<Partial<DocumentText>>>(),
  preview: vi.fn<
    (source: Source, strategy: string, params: Record<string, unknown>, signal?: AbortSignal, window?: { first_chunk: number; max_chunks: number }) => Promise<PreviewResponse>
  >(),
  documentTextWindow: vi.fn<(id: string, start: number, end: number | null) => Promise<Partial<DocumentText>>>(),
};
vi.mock("../api/endpoints", () => ({ api }));

const { default: PlaygroundScreen, PREVIEW_DEBOUNCE_MS, CHUNK_WINDOW } = await import("./PlaygroundScreen");
const { renderWithQueries } = await import("../test/render");

function response(params: Record<string, unknown>): PreviewResponse {
  const chunks = [
    { index: 0, text: "First part.", start: 0, end: 11, tokens: 3, metadata: {} },
    { index: 1, text: "Second part.", start: 13, end: 25, tokens: 3, metadata: {} },
  ];
  return {
    chunks,
    total_chunks: chunks.length,
    cached: params.chunk_size === 64,
    metrics: { chunk_count: 2, tokens_mean: 3, tokens_min: 3, tokens_max: 3, tokens_p95: 3, small_share: 1, mid_sentence_share: 0, time_ms: 1 },
  };
}

const preview = () => document.querySelector("[data-testid=preview]")!;

describe("PlaygroundScreen", () => {
  beforeEach(() => {
    for (const fn of Object.values(api)) fn.mockReset();
    api.strategies.mockResolvedValue(STRATEGIES);
    api.collections.mockResolvedValue([]);
    api.documents.mockResolvedValue([]);
    api.document.mockResolvedValue({
      id: "d1",
      collection_id: "c1",
      filename: "guide.md",
      status: "chunked",
      size_bytes: 25,
      content_sha256: "0",
      chunk_count: 2,
      error: null,
    });
    api.documentText.mockResolvedValue({ document_id: "d1", filename: "guide.md", kind: "markdown", text: TEXT, size_chars: TEXT.length });
    api.preview.mockImplementation((_source, _strategy, params) => Promise.resolve(response(params)));
    window.history.pushState(null, "", "/playground?document=d1");
  });
  afterEach(() => window.history.pushState(null, "", "/"));

  it("previews a document as the parameters change, fetching its text once", async () => {
    expect(PREVIEW_DEBOUNCE_MS).toBeLessThan(500);
    renderWithQueries(<PlaygroundScreen />);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));
    expect(preview().getAttribute("data-params")).toBe("{}");
    expect(screen.getByText("2 chunks with recursive")).toBeTruthy();
    expect(document.querySelector(".source-text")!.textContent).toContain("Second part.");

    fireEvent.change(document.getElementById("playground-chunk_size")!, { target: { value: "64" } });
    await vi.waitFor(() => expect(preview().getAttribute("data-params")).toBe('{"chunk_size":64}'));
    expect(preview().getAttribute("data-state")).toBe("ready");
    expect(screen.getByText("2 chunks with recursive (cached)")).toBeTruthy();
    expect(api.preview).toHaveBeenLastCalledWith({ document_id: "d1" }, "recursive", { chunk_size: 64 }, expect.any(AbortSignal), {
      first_chunk: 0,
      max_chunks: CHUNK_WINDOW,
    });
    expect(api.documentText).toHaveBeenCalledTimes(1);
  });

  it("shows a refused preview's reason without the chunks of earlier settings under it", async () => {
    renderWithQueries(<PlaygroundScreen />);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));

    api.preview.mockRejectedValueOnce(new ApiError(422, "invalid_params", "params: chunk_overlap must be smaller than chunk_size"));
    fireEvent.change(document.getElementById("playground-chunk_size")!, { target: { value: "32" } });
    expect((await screen.findByRole("alert")).textContent).toBe("Chunk overlap must be smaller than chunk size.");
    expect(preview().getAttribute("data-state")).toBe("error");
    expect(document.querySelectorAll(".source-text .boundary")).toHaveLength(0);
    expect(screen.queryByText(/chunks with recursive/)).toBeNull();

    fireEvent.change(document.getElementById("playground-chunk_size")!, { target: { value: "48" } });
    await vi.waitFor(() => expect(preview().getAttribute("data-params")).toBe('{"chunk_size":48}'));
    expect(preview().getAttribute("data-state")).toBe("ready");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("marks the preview out of date while the parameters are invalid, and clears it with no source", async () => {
    renderWithQueries(<PlaygroundScreen />);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));
    const size = document.getElementById("playground-chunk_size")!;
    fireEvent.change(size, { target: { value: "99999" } });
    fireEvent.blur(size);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("invalid"));
    expect(preview().getAttribute("data-current")).toBe("false");
    expect(screen.getByTestId("stale-notice").textContent).toMatch(/^Out of date:/);
    expect(document.querySelector(".preview-body.out-of-date")).not.toBeNull();

    // "Paste text" with an empty box: nothing to chunk, so no chunks of the last document.
    fireEvent.click(screen.getByLabelText(/Paste text/));
    fireEvent.change(document.getElementById("playground-text")!, { target: { value: "" } });
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("empty"));
    expect(document.querySelectorAll(".source-text .boundary")).toHaveLength(0);
    expect(screen.getByText("Paste a text or choose a document to see its chunks.")).toBeTruthy();
  });

  it("previews a document too large for one text answer in windows of chunks, never refusing", async () => {
    // A "2 MB" document: its whole text is refused (413), so the text around the chunks shown is read.
    const WHOLE = "x".repeat(1000) + "Window one. Window two. Window three.";
    api.documentText.mockRejectedValue(new ApiError(413, "payload_too_large", "the text is larger than one answer holds; ask for a window"));
    api.documentTextWindow.mockImplementation((_id, start, end) =>
      Promise.resolve({ document_id: "d1", filename: "big.txt", kind: "text", text: WHOLE.slice(start, end ?? undefined), start, end: end ?? WHOLE.length, size_chars: WHOLE.length }),
    );
    const chunk = (index: number, text: string) => {
      const start = WHOLE.indexOf(text);
      return { index, text, start, end: start + text.length, tokens: 3, metadata: {} };
    };
    api.preview.mockImplementation((_s, _st, _p, _signal, window) =>
      Promise.resolve({
        ...response({}),
        total_chunks: 3,
        chunks: window?.first_chunk ? [chunk(2, "Window three.")] : [chunk(0, "Window one."), chunk(1, "Window two.")],
        next_chunk: window?.first_chunk ? null : 2,
      }),
    );
    renderWithQueries(<PlaygroundScreen />);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));
    expect(screen.getByTestId("chunk-window").textContent).toContain("Showing chunks 1–2 of 3");
    const segs = () => [...document.querySelectorAll(".source-text .seg")].map((el) => el.textContent).join("");
    expect(segs()).toContain("Window one. Window two.");
    expect(screen.queryByRole("alert")).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Next chunks" }));
    await vi.waitFor(() => expect(screen.getByTestId("chunk-window").textContent).toContain("Showing chunks 3–3 of 3"));
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));
    // The window's text starts at its first chunk: the chunk's offsets are drawn into it.
    expect(api.documentTextWindow).toHaveBeenLastCalledWith("d1", WHOLE.indexOf("Window three."), null, expect.any(AbortSignal));
    expect(document.querySelector(".source-text .seg-even, .source-text .seg-odd")!.textContent).toBe("Window three.");
  });
});
