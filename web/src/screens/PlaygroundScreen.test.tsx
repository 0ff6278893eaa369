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
  collections: vi.fn<() => Promise<Collection[]>>(),
  documents: vi.fn<(id: string) => Promise<DocumentOut[]>>(),
  document: vi.fn<(id: string) => Promise<DocumentOut>>(),
  documentText: vi.fn<(id: string) => Promise<DocumentText>>(),
  preview: vi.fn<(source: Source, strategy: string, params: Record<string, unknown>) => Promise<PreviewResponse>>(),
};
vi.mock("../api/endpoints", () => ({ api }));

const { default: PlaygroundScreen, PREVIEW_DEBOUNCE_MS } = await import("./PlaygroundScreen");
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
    expect(api.preview).toHaveBeenLastCalledWith({ document_id: "d1" }, "recursive", { chunk_size: 64 }, expect.any(AbortSignal));
    expect(api.documentText).toHaveBeenCalledTimes(1);
  });

  it("shows a refused preview's reason and keeps the last preview", async () => {
    renderWithQueries(<PlaygroundScreen />);
    await vi.waitFor(() => expect(preview().getAttribute("data-state")).toBe("ready"));

    api.preview.mockRejectedValueOnce(new ApiError(422, "invalid_params", "chunk_overlap must be smaller than chunk_size"));
    fireEvent.change(document.getElementById("playground-chunk_size")!, { target: { value: "32" } });
    expect((await screen.findByRole("alert")).textContent).toBe("chunk_overlap must be smaller than chunk_size");
    expect(preview().getAttribute("data-state")).toBe("error");
    expect(preview().getAttribute("data-params")).toBe("{}");
    expect(document.querySelectorAll(".source-text .boundary")).toHaveLength(2);

    fireEvent.change(document.getElementById("playground-chunk_size")!, { target: { value: "48" } });
    await vi.waitFor(() => expect(preview().getAttribute("data-params")).toBe('{"chunk_size":48}'));
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
