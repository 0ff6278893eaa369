import { act, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Collection } from "../api/types";

const collections = vi.fn<(signal?: AbortSignal) => Promise<Collection[]>>();
const operations = vi.fn();

vi.mock("../api/endpoints", () => ({
  api: {
    collections: (signal?: AbortSignal) => collections(signal),
    operations: (...args: unknown[]) => operations(...args),
    strategies: () => Promise.resolve([]),
  },
}));

const { CollectionsScreen } = await import("./CollectionsScreen");

function collection(name: string, last: Collection["last_operation"]): Collection {
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
  it("shows each collection's last operation from the list itself (no request per collection)", async () => {
    collections.mockResolvedValue([
      collection("Done", { id: "op1", status: "completed", documents_done: 3, documents_total: 3, finished_at: "2025-01-02T00:00:00Z" }),
      collection("Fresh", null),
      collection("Broken", { id: "op2", status: "failed", documents_done: 1, documents_total: 2, finished_at: "2025-01-02T00:00:00Z" }),
    ]);
    await act(async () => {
      render(<CollectionsScreen />);
    });
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
      collections.mockReset();
      collections
        .mockResolvedValueOnce([collection("Busy", { id: "op", status: "running", documents_done: 1, documents_total: 4, finished_at: null })])
        .mockResolvedValue([collection("Busy", { id: "op", status: "completed", documents_done: 4, documents_total: 4, finished_at: "2025-01-02T00:00:00Z" })]);
      await act(async () => {
        render(<CollectionsScreen />);
      });
      expect(screen.getByText("Running")).toBeTruthy();
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
});
