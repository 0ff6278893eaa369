import { act, fireEvent, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { ChunkConfig, Collection } from "../api/types";

const collections = vi.fn<(signal?: AbortSignal) => Promise<Partial<Collection>[]>>();
const operations = vi.fn();
const createCollection = vi.fn<(name: string, config: ChunkConfig) => Promise<Partial<Collection>>>();

vi.mock("../api/endpoints", () => ({
  api: {
    collections: (signal?: AbortSignal) => collections(signal),
    operations: (...args: unknown[]) => operations(...args),
    createCollection: (name: string, config: ChunkConfig) => createCollection(name, config),
    strategies: () => Promise.resolve([]),
  },
}));

const { CollectionsScreen } = await import("./CollectionsScreen");
const { renderWithQueries } = await import("../test/render");

function collection(name: string, last: Collection["last_operation"]): Partial<Collection> {
  return {
    id: `id-${name}`,
    name,
    config: { strategy: "recursive", params: {} },
    document_count: 3,
    chunk_count: 12,
    created_at: "2025-01-01T00:00:00Z",
    last_operation: last,
  };
}

describe("CollectionsScreen", () => {
  beforeEach(() => {
    collections.mockReset();
    operations.mockReset();
    createCollection.mockReset();
  });

  it("shows each collection's last operation from the list itself (no request per collection)", async () => {
    collections.mockResolvedValue([
      collection("Done", { id: "op1", status: "completed", documents_done: 3, documents_total: 3, finished_at: "2025-01-02T00:00:00Z" }),
      collection("Fresh", null),
      collection("Broken", { id: "op2", status: "failed", documents_done: 1, documents_total: 2, finished_at: "2025-01-02T00:00:00Z" }),
    ]);
    renderWithQueries(<CollectionsScreen />);
    await screen.findByRole("link", { name: "Done" });
    const cell = (name: string) => screen.getByRole("link", { name }).closest("tr")!.querySelector(".last-operation")!;
    expect(cell("Done").querySelector(".status")!.textContent).toBe("Completed");
    expect(cell("Done").textContent).toMatch(/3 of 3 documents/);
    expect(cell("Fresh").textContent).toBe("None yet");
    expect(cell("Broken").querySelector(".status-failed")).not.toBeNull();
    expect(cell("Broken").textContent).toMatch(/1 of 2 documents/);
    expect(collections).toHaveBeenCalledTimes(1);
    expect(operations).not.toHaveBeenCalled();
  });

  it("asks again while an operation is under way, and stops when it has finished", async () => {
    vi.useFakeTimers();
    try {
      collections
        .mockResolvedValueOnce([collection("Busy", { id: "op", status: "running", documents_done: 1, documents_total: 4, finished_at: null })])
        .mockResolvedValue([collection("Busy", { id: "op", status: "completed", documents_done: 4, documents_total: 4, finished_at: "2025-01-02T00:00:00Z" })]);
      renderWithQueries(<CollectionsScreen />);
      await act(async () => {
        await vi.advanceTimersByTimeAsync(10);
      });
      expect(screen.getByText("Running")).toBeTruthy();
      expect(collections).toHaveBeenCalledTimes(1);
      await act(async () => {
        await vi.advanceTimersByTimeAsync(2100);
      });
      expect(collections).toHaveBeenCalledTimes(2);
      expect(screen.getByText("Completed")).toBeTruthy();
      await act(async () => {
        await vi.advanceTimersByTimeAsync(10_000);
      });
      expect(collections).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("shows the server's error sentence, and asks again on Retry", async () => {
    collections
      .mockRejectedValueOnce(new ApiError(503, "database_unavailable", "The database cannot be reached; retry in a moment."))
      .mockResolvedValue([collection("Back", null)]);
    renderWithQueries(<CollectionsScreen />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The database cannot be reached; retry in a moment.");
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByRole("link", { name: "Back" });
    expect(screen.queryByRole("alert")).toBeNull();
    expect(collections).toHaveBeenCalledTimes(2);
  });

  it("lists a collection once it is created (the list is invalidated)", async () => {
    const created = collection("Reports", null);
    collections.mockResolvedValueOnce([]).mockResolvedValue([created]);
    createCollection.mockResolvedValue(created);
    renderWithQueries(<CollectionsScreen />);
    await screen.findByText(/No collections yet/);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Reports" } });
    const button = screen.getByRole("button", { name: "Create collection" });
    await vi.waitFor(() => expect((button as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(button);
    await screen.findByRole("link", { name: "Reports" });
    expect(createCollection).toHaveBeenCalledWith("Reports", { strategy: "recursive", params: {} });
    expect(collections).toHaveBeenCalledTimes(2);
    expect(window.location.pathname).toBe("/collections/id-Reports");
  });

  it("shows why a collection was refused, in the server's words", async () => {
    collections.mockResolvedValue([]);
    createCollection.mockRejectedValue(new ApiError(409, "collection_exists", "a collection named 'Reports' already exists"));
    renderWithQueries(<CollectionsScreen />);
    await screen.findByText(/No collections yet/);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Reports" } });
    const button = screen.getByRole("button", { name: "Create collection" });
    await vi.waitFor(() => expect((button as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(button);
    expect((await screen.findByRole("alert")).textContent).toBe("A collection named 'Reports' already exists.");
    expect(collections).toHaveBeenCalledTimes(1);
  });
});
