// The compare screen against a mocked API: a configuration that failed while chunking shows its
// error in its column and its card instead of metrics and chunks, the others show as usual, and
// a compare the server refused as a whole says why.
import { fireEvent, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Source } from "../api/endpoints";
import type { ChunkConfig, Collection, CompareResponse, CompareResult, DocumentOut, Strategy } from "../api/types";
import type { Evaluation } from "../lib/evaluationsApi";
import type { Page } from "../lib/paging";
import type { Question } from "../lib/questionsApi";

const schema = {
  type: "object",
  properties: { chunk_size: { type: "integer", title: "Chunk Size", default: 512, minimum: 16, maximum: 8192 } },
};
const STRATEGIES: Strategy[] = [
  { name: "recursive", description: "Splits by paragraphs, then sentences.", params_schema: schema, available: true },
  { name: "markdown", description: "Follows the headings.", params_schema: schema, available: true },
];

const api = {
  strategies: vi.fn<() => Promise<Strategy[]>>(),
  collections: vi.fn<() => Promise<Partial<Collection>[]>>(),
  documents: vi.fn<(collectionId: string) => Promise<Partial<DocumentOut>[]>>(),
  compare: vi.fn<(source: Source, configs: ChunkConfig[]) => Promise<CompareResponse>>(),
};
const questionsApi = {
  questions: vi.fn<(collectionId: string, cursor: string | undefined, limit?: number) => Promise<Page<Partial<Question>>>>(),
};
const evaluationsApi = {
  start: vi.fn<(collectionId: string, configs: ChunkConfig[], k: number, model: string) => Promise<Partial<Evaluation>>>(),
};
vi.mock("../api/endpoints", () => ({ api }));
vi.mock("../lib/questionsApi", async (original) => ({ ...(await original<typeof import("../lib/questionsApi")>()), questionsApi }));
vi.mock("../lib/evaluationsApi", async (original) => ({ ...(await original<typeof import("../lib/evaluationsApi")>()), evaluationsApi }));

const { default: CompareScreen } = await import("./CompareScreen");
const { renderWithQueries } = await import("../test/render");

const ENDPOINT_ERROR = "cannot reach embedding endpoint http://127.0.0.1:9/v1/embeddings: [Errno 111] Connection refused";
/** The same, as shown: a sentence. */
const SHOWN_ERROR = "Cannot reach embedding endpoint http://127.0.0.1:9/v1/embeddings: [Errno 111] Connection refused.";

function good(strategy: string): CompareResult {
  return {
    strategy,
    params: { chunk_size: 512 },
    metrics: { chunk_count: 2, tokens_mean: 3.5, tokens_min: 3, tokens_max: 4, tokens_p95: 4, small_share: 1, mid_sentence_share: 0, time_ms: 1.25 },
    chunks: [
      { index: 0, text: "# Notes", start: 0, end: 7, tokens: 3, metadata: {} },
      { index: 1, text: "Paste the text.", start: 9, end: 24, tokens: 4, metadata: {} },
    ],
    error: null,
  };
}

function failed(strategy: string, error: string): CompareResult {
  return { strategy, params: { chunk_size: 512 }, metrics: null, chunks: null, error };
}

const card = (k: number) => screen.getByTestId(`compare-result-${k}`);

async function compareWith(response: CompareResponse | Error) {
  if (response instanceof Error) api.compare.mockRejectedValueOnce(response);
  else api.compare.mockResolvedValueOnce(response);
  renderWithQueries(<CompareScreen />);
  // The two default configurations are there once the strategies have come.
  await screen.findByRole("heading", { name: "Configuration 2" });
  const button = screen.getByRole("button", { name: "Compare" }) as HTMLButtonElement;
  await vi.waitFor(() => expect(button.disabled).toBe(false));
  fireEvent.click(button);
}

describe("CompareScreen", () => {
  beforeEach(() => {
    for (const fn of [...Object.values(api), questionsApi.questions, evaluationsApi.start]) fn.mockReset();
    api.strategies.mockResolvedValue(STRATEGIES);
    api.collections.mockResolvedValue([]);
  });

  it("scores the configurations by retrieval when the document's collection has questions", async () => {
    api.collections.mockResolvedValue([
      { id: "c1", name: "Handbook" },
      { id: "c2", name: "Empty" },
    ]);
    api.documents.mockImplementation((id) => Promise.resolve([{ id: `${id}-d1`, filename: "guide.md", collection_id: id }]));
    questionsApi.questions.mockImplementation((id) => Promise.resolve({ items: id === "c1" ? [{ id: "q1" }] : [], next_cursor: null }));
    evaluationsApi.start.mockResolvedValue({ id: "ev-1", collection_id: "c1", status: "pending" });
    renderWithQueries(<CompareScreen />);
    await screen.findByRole("heading", { name: "Configuration 2" });
    // Pasted text has no collection, so no questions: no scoring.
    expect(screen.queryByRole("button", { name: "Score by retrieval" })).toBeNull();
    fireEvent.click(screen.getByLabelText("An uploaded document"));
    await screen.findByRole("option", { name: "Empty" });
    fireEvent.change(screen.getByLabelText("Collection"), { target: { value: "c2" } });
    await vi.waitFor(() => expect(questionsApi.questions).toHaveBeenCalledWith("c2", undefined, 1, expect.anything()));
    expect(screen.queryByRole("button", { name: "Score by retrieval" })).toBeNull();
    fireEvent.change(screen.getByLabelText("Collection"), { target: { value: "c1" } });
    fireEvent.click(await screen.findByRole("button", { name: "Score by retrieval" }));
    await vi.waitFor(() => expect(evaluationsApi.start).toHaveBeenCalledTimes(1));
    const [collectionId, configs, k, model] = evaluationsApi.start.mock.calls[0]!;
    expect([collectionId, configs.map((c) => c.strategy), k, model]).toEqual(["c1", ["recursive", "markdown"], 5, "static"]);
    // It opens the evaluation.
    await vi.waitFor(() => expect(window.location.pathname).toBe("/evaluations/ev-1"));
    expect(api.compare).not.toHaveBeenCalled();
  });

  it("shows a failed configuration's error in its column and card, and the others as usual", async () => {
    await compareWith({
      results: [failed("recursive", ENDPOINT_ERROR), good("markdown")],
      recommendation: {
        index: 1,
        strategy: "markdown",
        params: { chunk_size: 512 },
        score: 0.2,
        reason: "markdown (chunk_size 512) scores best. recursive (chunk_size 512) failed and is not ranked.",
      },
    });
    await screen.findByTestId("compare-results");
    expect(api.compare).toHaveBeenCalledTimes(1);
    expect(screen.getByRole("status").textContent).toContain("Recommended: Configuration 2");

    // The table: the failed column is one cell with the error; the good one has every metric.
    const table = screen.getByRole("table", { name: "Metrics of each configuration" });
    const headers = within(table).getAllByRole("columnheader").map((h) => h.textContent);
    expect(headers[1]).toContain("Configuration 1 (failed)");
    expect(headers[2]).toContain("Configuration 2 ★ recommended");
    const failedCell = table.querySelector("td.compare-failed")!;
    expect(failedCell.textContent).toBe(`Failed: ${SHOWN_ERROR}`);
    expect(failedCell.getAttribute("rowspan")).toBe("8");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(8);
    expect(rows.map((row) => row.querySelectorAll("td").length)).toEqual([2, 1, 1, 1, 1, 1, 1, 1]);
    expect(rows[0]!.querySelector("td.num")!.textContent).toBe("2");
    expect(rows[1]!.querySelector("td.num")!.textContent).toBe("3.5");

    // The cards: the failed one says why and lists no chunks; the good one is as ever.
    expect(card(0).getAttribute("data-state")).toBe("failed");
    expect(within(card(0)).getByRole("heading", { name: "Configuration 1: recursive (failed)" })).toBeTruthy();
    expect(card(0).querySelector(".error-message")!.textContent).toContain(SHOWN_ERROR);
    expect(within(card(0)).queryByRole("list")).toBeNull();
    expect(card(1).getAttribute("data-state")).toBe("ok");
    expect(within(card(1)).getByRole("heading", { name: "Configuration 2: markdown (recommended)" })).toBeTruthy();
    expect(within(card(1)).getByText("All 2 chunks:")).toBeTruthy();
    expect(within(card(1)).getByText("Paste the text.")).toBeTruthy();
    expect(card(1).querySelector(".error-message")).toBeNull();
    // A failure in a result is not an error of the whole compare.
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows every configuration normally when none failed", async () => {
    await compareWith({
      results: [good("recursive"), good("markdown")],
      recommendation: { index: 0, strategy: "recursive", params: { chunk_size: 512 }, score: 0.2, reason: "recursive scores best." },
    });
    await screen.findByTestId("compare-results");
    expect(document.querySelector("td.compare-failed")).toBeNull();
    expect([card(0), card(1)].map((c) => c.getAttribute("data-state"))).toEqual(["ok", "ok"]);
    expect(document.querySelectorAll(".compare-results .error-message")).toHaveLength(0);
  });

  it("says why when the server refuses the whole compare (every configuration failed)", async () => {
    await compareWith(new ApiError(422, "invalid_config", ENDPOINT_ERROR));
    expect((await screen.findByRole("alert")).textContent).toBe(SHOWN_ERROR);
    expect(screen.queryByTestId("compare-results")).toBeNull();
  });

  it("draws every configuration's boundaries on one copy of the text, one lane each", async () => {
    const other = good("markdown");
    other.chunks = [{ index: 0, text: "# Notes\n\nPaste the text.", start: 0, end: 24, tokens: 7, metadata: {} }];
    await compareWith({
      results: [good("recursive"), other],
      recommendation: { index: 0, strategy: "recursive", params: { chunk_size: 512 }, score: 0.2, reason: "recursive scores best." },
    });
    const lanes = await screen.findByTestId("compare-lanes");
    // One lane per configuration, each along the same axis.
    expect(lanes.querySelectorAll(".lane-row")).toHaveLength(2);
    expect(lanes.querySelectorAll(".lane-c1 .lane-seg")).toHaveLength(2);
    expect(lanes.querySelectorAll(".lane-c2 .lane-seg")).toHaveLength(1);
    // One copy of the text: a shared start is one "all" badge, the other cut is configuration 1's.
    const text = lanes.querySelector(".compare-text")!;
    expect([...text.querySelectorAll("[data-cut]")].map((el) => el.getAttribute("data-cut"))).toEqual(["all", "0"]);
    expect(text.textContent).toContain("# Notes");
    expect(text.textContent!.match(/Paste the text/g)).toHaveLength(1);
    // The histograms share one x-axis.
    expect(screen.getAllByText(/the same axis, 3 to 7, for every configuration/)).toHaveLength(2);
  });

  it("marks the results out of date when a configuration changes, until compared again", async () => {
    await compareWith({
      results: [good("recursive"), good("markdown")],
      recommendation: { index: 0, strategy: "recursive", params: { chunk_size: 512 }, score: 0.2, reason: "recursive scores best." },
    });
    await screen.findByTestId("compare-results");
    expect(screen.queryByTestId("compare-stale")).toBeNull();
    const size = document.querySelectorAll<HTMLInputElement>("input[type=number]")[0]!;
    fireEvent.change(size, { target: { value: "128" } });
    expect(screen.getByTestId("compare-stale").textContent).toMatch(/^Out of date:/);
    expect(document.querySelector("[data-current=false]")).not.toBeNull();
    expect(document.querySelector(".config-card[data-changed=true]")).not.toBeNull();
    expect(document.querySelectorAll(".config-card[data-changed=true]")).toHaveLength(1);
  });
});
