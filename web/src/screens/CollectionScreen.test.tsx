// The collection screen against a mocked API: what it shows, and that every change (an upload,
// a deletion, an operation started or cancelled) is followed by the lists asked for again.
import { fireEvent, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Collection, DocumentOut, Operation } from "../api/types";

const api = {
  collection: vi.fn<(id: string) => Promise<Partial<Collection>>>(),
  documents: vi.fn<(id: string) => Promise<Partial<DocumentOut>[]>>(),
  operations: vi.fn<(id: string) => Promise<Operation[]>>(),
  operation: vi.fn<(id: string) => Promise<Operation>>(),
  deleteDocument: vi.fn<(id: string) => Promise<void>>(),
  updateCollection: vi.fn<(id: string, patch: unknown) => Promise<Partial<Collection>>>(),
  deleteCollection: vi.fn<(id: string) => Promise<void>>(),
  startOperation: vi.fn<(id: string, config: unknown, documentIds: string[] | null) => Promise<Operation>>(),
  cancelOperation: vi.fn<(id: string) => Promise<Operation>>(),
  strategies: () => Promise.resolve([]),
};
const uploadFile = vi.fn<(collectionId: string, file: File) => Promise<Partial<DocumentOut>[]>>();

vi.mock("../api/endpoints", () => ({ api, exportUrl: (id: string) => `/api/v1/collections/${id}/export` }));
vi.mock("../api/upload", () => ({
  uploadFile: (collectionId: string, file: File) => ({ promise: uploadFile(collectionId, file), abort: () => undefined }),
}));

const { CollectionScreen } = await import("./CollectionScreen");
const { renderWithQueries } = await import("../test/render");

/** A WebSocket that never connects: the progress falls back to polling `api.operation`. */
class ClosedSocket {
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;
  close() {}
}

const COLLECTION: Partial<Collection> = {
  id: "c1",
  name: "Handbook",
  config: { strategy: "recursive", params: {} },
  document_count: 1,
  chunk_count: 0,
  created_at: "2025-01-01T00:00:00Z",
  last_operation: null,
};

function doc(filename: string): Partial<DocumentOut> {
  return {
    id: `d-${filename}`,
    collection_id: "c1",
    filename,
    status: "uploaded",
    size_bytes: 120,
    content_sha256: "0".repeat(64),
    chunk_count: 0,
    error: null,
  };
}

function operation(status: string): Operation {
  return {
    id: "op-1",
    kind: "chunking",
    status,
    documents_total: 2,
    documents_done: status === "cancelled" ? 1 : 0,
    documents_failed: 0,
    chunks_created: 0,
    error: null,
    created_at: "2025-01-02T00:00:00Z",
    finished_at: status === "cancelled" ? "2025-01-02T00:01:00Z" : null,
  };
}

const documentRows = () => [...document.querySelectorAll("tr[data-document]")].map((row) => row.getAttribute("data-document"));
const historyTable = () => screen.getByRole("table", { name: "Operations, newest first" });

describe("CollectionScreen", () => {
  beforeEach(() => {
    for (const fn of Object.values(api)) if (vi.isMockFunction(fn)) fn.mockReset();
    uploadFile.mockReset();
    api.collection.mockResolvedValue(COLLECTION);
    api.documents.mockResolvedValue([doc("guide.md")]);
    api.operations.mockResolvedValue([]);
    vi.stubGlobal("WebSocket", ClosedSocket);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("lists an uploaded document once its upload is done", async () => {
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByRole("link", { name: "guide.md" });
    api.documents.mockResolvedValue([doc("guide.md"), doc("notes.txt")]);
    api.collection.mockResolvedValue({ ...COLLECTION, document_count: 2 });
    uploadFile.mockResolvedValue([doc("notes.txt")]);

    const input = document.querySelector("input[type=file]") as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File(["notes"], "notes.txt", { type: "text/plain" })] } });

    await screen.findByRole("link", { name: "notes.txt" });
    expect(documentRows()).toEqual(["guide.md", "notes.txt"]);
    expect(uploadFile).toHaveBeenCalledWith("c1", expect.any(File));
    expect(await screen.findByText(/^2 documents, 0 chunks\./)).toBeTruthy();
    expect(api.documents).toHaveBeenCalledTimes(2);
  });

  it("drops a deleted document from the list after a confirmation dialog; a refused deletion says why", async () => {
    const confirm = vi.spyOn(window, "confirm");
    api.documents.mockResolvedValue([doc("guide.md"), doc("old.txt")]);
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByRole("link", { name: "old.txt" });

    api.deleteDocument.mockRejectedValueOnce(new ApiError(409, "document_busy", "old.txt is being chunked; delete it once the operation ends"));
    fireEvent.click(screen.getByRole("button", { name: "Delete old.txt" }));
    // A dialog of the page's own (named, with Cancel first), not the browser's confirm().
    const dialog = await screen.findByRole("dialog", { name: "Delete old.txt?" });
    expect(document.activeElement?.textContent).toBe("Cancel");
    fireEvent.click(within(dialog).getByRole("button", { name: "Delete the document" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Old.txt is being chunked; delete it once the operation ends.");
    expect(api.documents).toHaveBeenCalledTimes(1);
    fireEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).toBeNull();

    api.deleteDocument.mockResolvedValue(undefined);
    api.documents.mockResolvedValue([doc("guide.md")]);
    fireEvent.click(screen.getByRole("button", { name: "Delete old.txt" }));
    fireEvent.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Delete the document" }));
    await vi.waitFor(() => expect(documentRows()).toEqual(["guide.md"]));
    expect(api.deleteDocument).toHaveBeenLastCalledWith("d-old.txt");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(confirm).not.toHaveBeenCalled();
  });

  it("sorts the documents table by a column, both ways", async () => {
    const small = { ...doc("b-small.txt"), size_bytes: 10, chunk_count: 5 };
    const big = { ...doc("a-big.txt"), size_bytes: 9000, chunk_count: 1 };
    api.documents.mockResolvedValue([small, big, doc("c.md")]);
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByRole("link", { name: "c.md" });
    expect(documentRows()).toEqual(["a-big.txt", "b-small.txt", "c.md"]);
    fireEvent.click(screen.getByRole("button", { name: /^Size/ }));
    expect(documentRows()).toEqual(["a-big.txt", "c.md", "b-small.txt"]);
    expect(screen.getByRole("columnheader", { name: /Size/ }).getAttribute("aria-sort")).toBe("descending");
    fireEvent.click(screen.getByRole("button", { name: /^Size/ }));
    expect(documentRows()).toEqual(["b-small.txt", "c.md", "a-big.txt"]);
    fireEvent.click(screen.getByRole("button", { name: /^Chunks/ }));
    expect(documentRows()[0]).toBe("b-small.txt");
  });

  it("shows each document's pages, characters and tokens once measured, a dash before", async () => {
    const measured = { ...doc("report.pdf"), status: "chunked", pages: 3, characters: 12_345, tokens: 2_800 };
    api.documents.mockResolvedValue([measured, doc("notes.md")]);
    renderWithQueries(<CollectionScreen id="c1" />);
    const row = (await screen.findByRole("link", { name: "report.pdf" })).closest("tr")!;
    for (const header of ["Pages", "Characters", "Tokens"]) {
      expect(screen.getByRole("columnheader", { name: new RegExp(header) })).toBeTruthy();
    }
    expect(within(row).getByText("12,345")).toBeTruthy();
    expect(within(row).getByText("2,800")).toBeTruthy();
    expect(within(row).getByText("3")).toBeTruthy();
    const other = screen.getByRole("link", { name: "notes.md" }).closest("tr")!;
    expect(within(other).getAllByText("–")).toHaveLength(3);
    fireEvent.click(screen.getByRole("button", { name: /^Tokens/ }));
    expect(documentRows()).toEqual(["report.pdf", "notes.md"]); // numbers: largest first
    fireEvent.click(screen.getByRole("button", { name: /^Tokens/ }));
    expect(documentRows()).toEqual(["notes.md", "report.pdf"]); // not measured yet first
  });

  it("renames the collection and edits nothing else", async () => {
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByRole("heading", { name: "Handbook", level: 1 });
    api.updateCollection.mockResolvedValue({ ...COLLECTION, name: "Manual" });
    api.collection.mockResolvedValue({ ...COLLECTION, name: "Manual" });
    fireEvent.click(screen.getByRole("button", { name: "Rename" }));
    fireEvent.change(screen.getByLabelText("New name"), { target: { value: "Manual" } });
    fireEvent.click(screen.getByRole("button", { name: "Save name" }));
    await screen.findByRole("heading", { name: "Manual", level: 1 });
    expect(api.updateCollection).toHaveBeenCalledWith("c1", { name: "Manual" });
  });

  it("starts no run in an empty collection, and says there is nothing to export", async () => {
    api.collection.mockResolvedValue({ ...COLLECTION, document_count: 0 });
    api.documents.mockResolvedValue([]);
    renderWithQueries(<CollectionScreen id="c1" />);
    const start = (await screen.findByRole("button", { name: "Start chunking" })) as HTMLButtonElement;
    expect(start.disabled).toBe(true);
    expect(screen.getByText("Nothing to chunk: upload documents first.")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Export chunks (JSONL)" }));
    expect(await screen.findByText(/^Nothing to export: this collection has no documents yet/)).toBeTruthy();
    expect(api.startOperation).not.toHaveBeenCalled();
  });

  it("shows a started operation in the history, and its cancellation", async () => {
    api.operation.mockResolvedValue(operation("running"));
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByText("No operations yet.");

    api.startOperation.mockResolvedValue(operation("pending"));
    api.operations.mockResolvedValue([operation("pending")]);
    fireEvent.click(await screen.findByRole("button", { name: "Start chunking" }));

    await vi.waitFor(() => expect(within(historyTable()).getByText("Waiting to start")).toBeTruthy());
    expect(api.startOperation).toHaveBeenCalledWith("c1", null, null);
    expect(document.querySelector(".operation-progress[data-operation=op-1]")).not.toBeNull();

    api.cancelOperation.mockResolvedValue(operation("cancelled"));
    api.operations.mockResolvedValue([operation("cancelled")]);
    fireEvent.click(screen.getByRole("button", { name: "Cancel operation" }));
    await vi.waitFor(() => expect(within(historyTable()).getByText("Cancelled")).toBeTruthy());
    expect(document.querySelector(".operation-progress")!.getAttribute("data-status")).toBe("cancelled");
    expect(api.cancelOperation).toHaveBeenCalledWith("op-1");
  });

  it("leaves evaluations out of the chunking operations: they have a screen of their own", async () => {
    api.operations.mockResolvedValue([operation("completed"), { ...operation("running"), id: "ev-1", kind: "evaluation" }]);
    renderWithQueries(<CollectionScreen id="c1" />);
    await vi.waitFor(() => expect(within(historyTable()).getByText("Completed")).toBeTruthy());
    expect(within(historyTable()).getAllByRole("row")).toHaveLength(2);
    expect(document.querySelector(".operation-progress[data-operation=ev-1]")).toBeNull();
    expect(screen.getByRole("link", { name: "Evaluate by retrieval" }).getAttribute("href")).toBe("/collections/c1/evaluations");
    expect(screen.getByRole("link", { name: "Evaluation questions" }).getAttribute("href")).toBe("/collections/c1/questions");
  });

  it("shows why an operation could not start, in the server's words", async () => {
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByText("No operations yet.");
    api.startOperation.mockRejectedValue(new ApiError(409, "operation_running", "an operation is already running on this collection"));
    fireEvent.click(await screen.findByRole("button", { name: "Start chunking" }));
    expect((await screen.findByRole("alert")).textContent).toBe("An operation is already running on this collection.");
    expect(api.operations).toHaveBeenCalledTimes(1);
  });

  it("shows a missing collection's error sentence, and asks again on Retry", async () => {
    api.collection.mockRejectedValueOnce(new ApiError(404, "collection_not_found", "collection c1 not found"));
    renderWithQueries(<CollectionScreen id="c1" />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Collection c1 not found.");
    expect(screen.getByRole("link", { name: "Back to collections" })).toBeTruthy();
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByRole("heading", { name: "Handbook", level: 1 });
    expect(api.collection).toHaveBeenCalledTimes(2);
  });

  it("says when the chunks mix configurations, and re-chunks the stale documents", async () => {
    api.collection.mockResolvedValue({ ...COLLECTION, document_count: 2, stale_documents: 1, other_config_documents: 1 });
    const custom = { strategy: "character", params: { chunk_size: 16, tokenizer: "chars" } };
    api.documents.mockResolvedValue([
      { ...doc("guide.md"), status: "chunked", chunked_with: { strategy: "recursive", params: { chunk_size: 512 } }, stale: false },
      { ...doc("notes.txt"), status: "chunked", chunked_with: custom, stale: true },
    ]);
    renderWithQueries(<CollectionScreen id="c1" />);
    const warning = await screen.findByTestId("provenance");
    expect(warning.textContent).toContain("Mixed configurations: 1 document of this collection was chunked with another configuration");
    expect(warning.textContent).toContain("1 document is stale");
    const row = document.querySelector('tr[data-document="notes.txt"]')!;
    expect(row.querySelector(".chunked-with")!.textContent).toBe('character (chunk_size=16, tokenizer="chars")');
    expect(within(row as HTMLElement).getByText("Stale")).toBeTruthy();

    api.startOperation.mockResolvedValue(operation("pending"));
    fireEvent.click(within(warning).getByRole("button", { name: "Re-chunk the 1 stale document" }));
    await vi.waitFor(() => expect(api.startOperation).toHaveBeenCalledWith("c1", null, ["d-notes.txt"]));
  });
});
