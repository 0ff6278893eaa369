// The collection screen against a mocked API: what it shows, and that every change (an upload,
// a deletion, an operation started or cancelled) is followed by the lists asked for again.
import { fireEvent, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Collection, DocumentOut, Operation } from "../api/types";

const api = {
  collection: vi.fn<(id: string) => Promise<Collection>>(),
  documents: vi.fn<(id: string) => Promise<DocumentOut[]>>(),
  operations: vi.fn<(id: string) => Promise<Operation[]>>(),
  operation: vi.fn<(id: string) => Promise<Operation>>(),
  deleteDocument: vi.fn<(id: string) => Promise<void>>(),
  startOperation: vi.fn<(id: string, config: unknown, documentIds: string[] | null) => Promise<Operation>>(),
  cancelOperation: vi.fn<(id: string) => Promise<Operation>>(),
  strategies: () => Promise.resolve([]),
};
const uploadFile = vi.fn<(collectionId: string, file: File) => Promise<DocumentOut[]>>();

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

const COLLECTION: Collection = {
  id: "c1",
  name: "Handbook",
  config: { strategy: "recursive", params: {} },
  document_count: 1,
  chunk_count: 0,
  created_at: "2025-01-01T00:00:00Z",
  last_operation: null,
};

function doc(filename: string): DocumentOut {
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

  it("drops a deleted document from the list; a refused deletion says why", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    api.documents.mockResolvedValue([doc("guide.md"), doc("old.txt")]);
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByRole("link", { name: "old.txt" });

    api.deleteDocument.mockRejectedValueOnce(new ApiError(409, "document_busy", "old.txt is being chunked; delete it once the operation ends"));
    fireEvent.click(screen.getByRole("button", { name: "Delete old.txt" }));
    expect((await screen.findByRole("alert")).textContent).toBe("old.txt is being chunked; delete it once the operation ends");
    expect(api.documents).toHaveBeenCalledTimes(1);

    api.deleteDocument.mockResolvedValue(undefined);
    api.documents.mockResolvedValue([doc("guide.md")]);
    fireEvent.click(screen.getByRole("button", { name: "Delete old.txt" }));
    await vi.waitFor(() => expect(documentRows()).toEqual(["guide.md"]));
    expect(api.deleteDocument).toHaveBeenLastCalledWith("d-old.txt");
    expect(screen.queryByRole("alert")).toBeNull();
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

  it("shows why an operation could not start, in the server's words", async () => {
    renderWithQueries(<CollectionScreen id="c1" />);
    await screen.findByText("No operations yet.");
    api.startOperation.mockRejectedValue(new ApiError(409, "operation_running", "an operation is already running on this collection"));
    fireEvent.click(await screen.findByRole("button", { name: "Start chunking" }));
    expect((await screen.findByRole("alert")).textContent).toBe("an operation is already running on this collection");
    expect(api.operations).toHaveBeenCalledTimes(1);
  });

  it("shows a missing collection's error sentence, and asks again on Retry", async () => {
    api.collection.mockRejectedValueOnce(new ApiError(404, "collection_not_found", "collection c1 not found"));
    renderWithQueries(<CollectionScreen id="c1" />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("collection c1 not found");
    expect(screen.getByRole("link", { name: "Back to collections" })).toBeTruthy();
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByRole("heading", { name: "Handbook", level: 1 });
    expect(api.collection).toHaveBeenCalledTimes(2);
  });
});
