// The chunks screens against a mocked API: a collection's chunks page by page, and a chunk's
// context from its document's text, fetched once for all the document's chunks.
import { fireEvent, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Collection, DocumentOut, DocumentText, StoredChunk } from "../api/types";
import type { ChunkFilters } from "../lib/chunkFilters";
import type { Page } from "../lib/paging";

const api = {
  collection: vi.fn<(id: string) => Promise<Partial<Collection>>>(),
  documents: vi.fn<(id: string) => Promise<Partial<DocumentOut>[]>>(),
  document: vi.fn<(id: string) => Promise<Partial<DocumentOut>>>(),
  documentChunks: vi.fn<(id: string) => Promise<StoredChunk[]>>(),
  documentText: vi.fn<(id: string) => Promise<Partial<DocumentText>>>(),
  collectionChunks: vi.fn<(id: string, cursor: string | undefined, limit: number, signal?: AbortSignal, filters?: ChunkFilters) => Promise<Page<StoredChunk>>>(),
};
vi.mock("../api/endpoints", () => ({ api, exportUrl: (id: string) => `/api/v1/collections/${id}/export` }));

const { default: ChunksScreen } = await import("./ChunksScreen");
const { renderWithQueries } = await import("../test/render");

const TEXT = "Alpha beta. Gamma delta. Epsilon zeta.";

function chunk(index: number, start: number, end: number): StoredChunk {
  return { id: `c${index + 1}`, document_id: "d1", index, text: TEXT.slice(start, end), start, end, tokens: 3, metadata: {} };
}

const CHUNKS = [chunk(0, 0, 11), chunk(1, 12, 24), chunk(2, 25, 38)];

const cards = () => [...document.querySelectorAll(".chunk-card")];

function openContext(card: Element) {
  const details = card.querySelector("details")!;
  details.open = true;
  fireEvent(details, new Event("toggle"));
}

describe("ChunksScreen", () => {
  beforeEach(() => {
    for (const fn of Object.values(api)) fn.mockReset();
    api.collection.mockResolvedValue({
      id: "c1",
      name: "Handbook",
      config: { strategy: "recursive", params: {} },
      document_count: 1,
      chunk_count: 3,
      created_at: "2025-01-01T00:00:00Z",
      last_operation: null,
    });
    api.documents.mockResolvedValue([
      { id: "d1", collection_id: "c1", filename: "guide.md", status: "chunked", size_bytes: 38, content_sha256: "0", chunk_count: 3, error: null },
    ]);
    api.document.mockImplementation(() => api.documents("c1").then((list) => list[0]!));
    api.documentChunks.mockResolvedValue(CHUNKS);
    api.documentText.mockResolvedValue({ document_id: "d1", filename: "guide.md", kind: "markdown", text: TEXT, size_chars: TEXT.length });
  });

  it("loads a collection's chunks page by page, and retries a page that failed", async () => {
    api.collectionChunks
      .mockResolvedValueOnce({ items: CHUNKS.slice(0, 2), next_cursor: "after-2" })
      .mockRejectedValueOnce(new ApiError(503, "database_unavailable", "The database cannot be reached; retry in a moment."))
      .mockResolvedValueOnce({ items: CHUNKS.slice(2), next_cursor: null });
    renderWithQueries(<ChunksScreen collectionId="c1" />);
    await screen.findByText("Showing 2 of 3 chunks.");
    expect(cards()).toHaveLength(2);

    fireEvent.click(screen.getByRole("button", { name: "Load 50 more chunks" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The database cannot be reached; retry in a moment.");
    expect(cards()).toHaveLength(2);

    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByText("Showing 3 of 3 chunks.");
    expect(cards().map((c) => c.getAttribute("data-chunk-id"))).toEqual(["c1", "c2", "c3"]);
    expect(screen.queryByRole("button", { name: /more chunks/ })).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(api.collectionChunks.mock.calls.map((call) => call[1])).toEqual([undefined, "after-2", "after-2"]);
    expect(screen.getAllByRole("link", { name: "guide.md" })).toHaveLength(3);
  });

  it("searches and filters a collection's chunks on the server, and marks the matches", async () => {
    api.collectionChunks.mockImplementation((_id, _cursor, _limit, _signal, filters) =>
      Promise.resolve({ items: filters?.q ? CHUNKS.slice(1, 2) : CHUNKS, next_cursor: null }),
    );
    renderWithQueries(<ChunksScreen collectionId="c1" />);
    await screen.findByText("Showing 3 of 3 chunks.");
    fireEvent.change(screen.getByLabelText("Search the text"), { target: { value: "GAMMA" } });
    fireEvent.change(screen.getByLabelText("Tokens, at least"), { target: { value: "2" } });
    fireEvent.change(screen.getByLabelText("Document"), { target: { value: "d1" } });
    await screen.findByText("Showing 1 (all) of the chunks that match, out of 3 chunks.");
    expect(api.collectionChunks).toHaveBeenLastCalledWith("c1", undefined, 50, expect.any(AbortSignal), {
      q: "GAMMA",
      min_tokens: 2,
      document_id: "d1",
    });
    expect([...document.querySelectorAll(".chunk-text mark.match")].map((m) => m.textContent)).toEqual(["Gamma"]);

    // Bounds that cannot be sent say why, and ask nothing.
    const calls = api.collectionChunks.mock.calls.length;
    fireEvent.change(screen.getByLabelText("Tokens, at most"), { target: { value: "1" } });
    expect((await screen.findByRole("alert")).textContent).toBe("The smallest size must not be above the largest.");
    expect(api.collectionChunks.mock.calls.length).toBe(calls);
  });

  it("shows each chunk in its context, from one fetch of the document's text", async () => {
    renderWithQueries(<ChunksScreen documentId="d1" />);
    await screen.findByText("3 chunks.");
    expect(api.documentText).not.toHaveBeenCalled();
    openContext(cards()[1]!);
    openContext(cards()[2]!);
    await vi.waitFor(() => expect(document.querySelectorAll(".chunk-context")).toHaveLength(2));
    expect(cards()[1]!.querySelector(".chunk-context mark")!.textContent).toBe("Gamma delta.");
    expect(cards()[1]!.querySelector(".chunk-context")!.textContent).toBe(TEXT);
    expect(api.documentText).toHaveBeenCalledTimes(1);
    expect(await screen.findByRole("link", { name: "Handbook" })).toBeTruthy();
  });

  it("says why a document's text cannot be shown", async () => {
    api.documentText.mockRejectedValue(new ApiError(409, "document_unreadable", "the stored file of guide.md is missing"));
    renderWithQueries(<ChunksScreen documentId="d1" />);
    await screen.findByText("3 chunks.");
    openContext(cards()[0]!);
    expect((await screen.findByRole("alert")).textContent).toBe("The document's text cannot be shown. The stored file of guide.md is missing.");
  });
});
