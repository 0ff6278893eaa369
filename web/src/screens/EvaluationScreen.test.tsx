// The evaluation screens against a mocked API: a completed evaluation's table marks the best
// configuration by IoU and by recall; a question opened shows the chunks a configuration
// retrieved against its reference, in the document's text (code points, an emoji before);
// a running one shows its progress and is cancelled; a new one starts with the chosen
// configurations and k, and none starts without questions.
import { fireEvent, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { ChunkConfig, Collection, DocumentOut, DocumentText, Operation, Strategy } from "../api/types";
import type { Evaluation, QuestionScore } from "../lib/evaluationsApi";
import type { Page } from "../lib/paging";
import type { Question } from "../lib/questionsApi";

const api = {
  collection: vi.fn<(id: string) => Promise<Partial<Collection>>>(),
  documents: vi.fn<(id: string) => Promise<Partial<DocumentOut>[]>>(),
  documentTextWindow: vi.fn<(id: string, start: number, end: number | null) => Promise<DocumentText>>(),
  operation: vi.fn<(id: string) => Promise<Operation>>(),
  cancelOperation: vi.fn<(id: string) => Promise<Operation>>(),
  strategies: vi.fn<() => Promise<Strategy[]>>(),
};
const evaluationsApi = {
  start: vi.fn<(collectionId: string, configs: ChunkConfig[], k: number, model: string) => Promise<Evaluation>>(),
  list: vi.fn<(collectionId: string, cursor: string | undefined) => Promise<Page<Evaluation>>>(),
  get: vi.fn<(id: string) => Promise<Evaluation>>(),
  scores: vi.fn<(id: string, cursor: string | undefined) => Promise<Page<QuestionScore>>>(),
};
const questionsApi = {
  questions: vi.fn<(collectionId: string, cursor: string | undefined, limit?: number) => Promise<Page<Question>>>(),
};
vi.mock("../api/endpoints", () => ({ api }));
vi.mock("../lib/evaluationsApi", async (original) => ({ ...(await original<typeof import("../lib/evaluationsApi")>()), evaluationsApi }));
vi.mock("../lib/questionsApi", async (original) => ({ ...(await original<typeof import("../lib/questionsApi")>()), questionsApi }));

const { default: EvaluationScreen } = await import("./EvaluationScreen");
const { default: EvaluationsScreen } = await import("./EvaluationsScreen");
const { renderWithQueries } = await import("../test/render");

/** A WebSocket that never connects. */
class ClosedSocket {
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;
  close() {}
}

const TEXT = "😀 Intro line.\nThe answer is here: forty-two, said the guide.\nUnrelated tail text that goes on.";
const POINTS = [...TEXT];
/** Where `words` start in TEXT, in code points (the API's count: the emoji is one). */
const cp = (words: string) => [...TEXT.slice(0, TEXT.indexOf(words))].length;

const RECURSIVE = { strategy: "recursive", params: { chunk_size: 256 } };
const MARKDOWN = { strategy: "markdown", params: { chunk_size: 512 } };

function evaluation(status: string, patch: Partial<Evaluation> = {}): Evaluation {
  return {
    id: "ev-1",
    collection_id: "c1",
    status,
    k: 5,
    embedding_model: "static",
    configs: [RECURSIVE, MARKDOWN],
    documents_total: 2,
    documents_done: status === "completed" ? 2 : 0,
    documents_failed: 0,
    error: null,
    created_at: "2026-01-01T00:00:00Z",
    finished_at: status === "completed" ? "2026-01-01T00:01:00Z" : null,
    questions: status === "completed" ? 1 : null,
    results: null,
    best: null,
    ...patch,
  } as Evaluation;
}

const COMPLETED = evaluation("completed", {
  results: [
    { ...RECURSIVE, recall: 0.9, precision: 0.1, iou: 0.1, chunks: 40, tokens: 9000, documents_failed: 0, error: null },
    { ...MARKDOWN, recall: 0.5, precision: 0.4, iou: 0.3, chunks: 12, tokens: 8800, documents_failed: 0, error: null },
  ],
  best: { iou: 1, recall: 0 },
} as Partial<Evaluation>);

const REFERENCE = { document_id: "d1", start: cp("forty-two"), end: cp("forty-two") + 9 };
const SCORE: QuestionScore = {
  question_id: "q1",
  question: "What is the answer?",
  references: [REFERENCE],
  configs: [
    { recall: 0, precision: 0, iou: 0, found: 0, reference: 9, retrieved: [{ document_id: "d1", start: cp("Unrelated"), end: cp("Unrelated") + 9, similarity: 0.41 }] },
    { recall: 5 / 9, precision: 5 / 14, iou: 5 / 18, found: 5, reference: 9, retrieved: [{ document_id: "d1", start: cp("is here"), end: cp("forty-two") + 5, similarity: 0.83 }] },
  ],
} as QuestionScore;

function textWindow(start: number, end: number | null): DocumentText {
  const stop = Math.min(end ?? POINTS.length, POINTS.length);
  return { document_id: "d1", filename: "guide.md", kind: "markdown", text: POINTS.slice(start, stop).join(""), size_chars: POINTS.length, start, end: stop };
}

describe("EvaluationScreen", () => {
  beforeEach(() => {
    for (const fn of [...Object.values(api), ...Object.values(evaluationsApi), ...Object.values(questionsApi)]) fn.mockReset();
    api.collection.mockResolvedValue({ id: "c1", name: "Handbook", config: RECURSIVE });
    api.documents.mockResolvedValue([{ id: "d1", filename: "guide.md", status: "chunked" }]);
    api.documentTextWindow.mockImplementation((_, start, end) => Promise.resolve(textWindow(start, end)));
    vi.stubGlobal("WebSocket", ClosedSocket);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("marks the best configuration by IoU and by recall", async () => {
    evaluationsApi.get.mockResolvedValue(COMPLETED);
    evaluationsApi.scores.mockResolvedValue({ items: [SCORE], next_cursor: null });
    renderWithQueries(<EvaluationScreen id="ev-1" />);
    const results = await screen.findByTestId("evaluation-results");
    const rows = within(results).getAllByRole("row").slice(1);
    expect(rows.map((r) => [r.dataset.bestIou, r.dataset.bestRecall])).toEqual([
      ["false", "true"],
      ["true", "false"],
    ]);
    expect(within(rows[0]!).getByText("★ best recall")).toBeTruthy();
    expect(within(rows[1]!).getByText("★ best IoU")).toBeTruthy();
    expect(rows[1]!.textContent).toContain("30.0%");
    expect(rows[0]!.textContent).toContain("9,000");
    const verdict = within(results).getByRole("status");
    expect(verdict.textContent).toContain("Best by IoU: Configuration 2");
    expect(verdict.textContent).toContain("Best by recall: Configuration 1");
    expect(screen.getByTestId("evaluation-summary").textContent).toMatch(/^Completed\. 2 configurations, 5 chunks retrieved per question/);
  });

  it("shows a question's retrieved chunks against its reference, for the configuration chosen", async () => {
    evaluationsApi.get.mockResolvedValue(COMPLETED);
    evaluationsApi.scores.mockResolvedValue({ items: [SCORE], next_cursor: null });
    renderWithQueries(<EvaluationScreen id="ev-1" />);
    const item = (await screen.findByText("What is the answer?")).closest("li")!;
    // The best by IoU is shown first.
    expect(item.textContent).toContain("configuration 2: recall 55.6%, IoU 27.8%");
    const details = item.querySelector("details")!;
    details.open = true;
    fireEvent(details, new Event("toggle"));

    const region = await within(item).findByRole("region", { name: /^guide\.md, characters 0–\d+: a reference, 1 retrieved chunk$/ });
    await vi.waitFor(() => expect(region.querySelector("mark.eval-both")).not.toBeNull());
    // Retrieved from "is here" to "forty": "forty" is the answer it holds, "-two" the answer it missed.
    expect(region.querySelector("mark.eval-both")!.textContent).toBe("forty");
    expect(region.querySelector("mark.eval-reference")!.textContent).toBe("-two");
    expect(region.querySelector(".eval-retrieved")!.textContent).toBe("is here: ");
    expect(region.querySelector("[data-rank='1']")!.textContent).toBe("#1 · 0.83");
    // The document's own text, whole, around the marks.
    const shown = [...region.querySelectorAll("mark, span:not(.boundary)")].filter((el) => !el.querySelector("*")).map((el) => el.textContent).join("");
    expect(shown).toBe(TEXT);
    expect(api.documentTextWindow).toHaveBeenCalledWith("d1", 0, expect.any(Number), expect.anything());

    // Another configuration: its chunk missed the answer.
    fireEvent.change(screen.getByLabelText("Show the chunks retrieved by"), { target: { value: "0" } });
    const text = () => item.querySelector(".eval-text");
    await vi.waitFor(() => expect(text()?.querySelector(".eval-retrieved")?.textContent).toBe("Unrelated"));
    expect(text()!.querySelector("mark.eval-both")).toBeNull();
    expect(text()!.querySelector("mark.eval-reference")!.textContent).toBe("forty-two");
    expect(text()!.querySelector("[data-rank='1']")!.textContent).toBe("#1 · 0.41");
    expect(item.textContent).toContain("configuration 1: recall 0.0%, IoU 0.0%");
  });

  it("shows a running evaluation's progress and cancels it", async () => {
    evaluationsApi.get.mockResolvedValue(evaluation("running", { documents_done: 1 }));
    renderWithQueries(<EvaluationScreen id="ev-1" />);
    await vi.waitFor(() => expect(document.querySelector(".progress-text")?.textContent).toBe("Running: 50%, 1 of 2 document runs chunked and embedded"));
    expect(screen.queryByTestId("evaluation-results")).toBeNull();

    const cancelled = { id: "ev-1", kind: "evaluation", status: "cancelled", documents_total: 2, documents_done: 1, documents_failed: 0, chunks_created: 0, error: null, created_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:30Z" } as Operation;
    api.cancelOperation.mockResolvedValue(cancelled);
    evaluationsApi.get.mockResolvedValue(evaluation("cancelled", { documents_done: 1, finished_at: "2026-01-01T00:00:30Z" }));
    fireEvent.click(screen.getByRole("button", { name: "Cancel the evaluation" }));
    await screen.findByText("The evaluation was cancelled before it finished: it has no scores.");
    expect(api.cancelOperation).toHaveBeenCalledWith("ev-1");
    expect(document.querySelector(".operation-progress")!.getAttribute("data-status")).toBe("cancelled");
    expect(screen.queryByRole("button", { name: "Cancel the evaluation" })).toBeNull();
  });
});

describe("EvaluationsScreen", () => {
  const schema = { type: "object", properties: { chunk_size: { type: "integer", title: "Chunk Size", default: 512, minimum: 16, maximum: 8192 } } };
  beforeEach(() => {
    for (const fn of [...Object.values(api), ...Object.values(evaluationsApi), ...Object.values(questionsApi)]) fn.mockReset();
    api.collection.mockResolvedValue({ id: "c1", name: "Handbook", config: { strategy: "recursive", params: { chunk_size: 256 } } });
    api.strategies.mockResolvedValue([
      { name: "recursive", description: "Paragraphs, then sentences.", params_schema: schema, available: true },
      { name: "markdown", description: "Headings.", params_schema: schema, available: true },
    ] as Strategy[]);
    evaluationsApi.list.mockResolvedValue({ items: [COMPLETED], next_cursor: null });
  });

  it("starts an evaluation of the chosen configurations with k, and says why one is refused", async () => {
    questionsApi.questions.mockResolvedValue({ items: [{ id: "q1" } as Question], next_cursor: null });
    renderWithQueries(<EvaluationsScreen collectionId="c1" />);
    await screen.findByRole("heading", { name: "Configuration 1" });
    // The earlier evaluation is listed with its best by IoU.
    expect(screen.getByRole("table", { name: "Evaluations, newest first" }).textContent).toContain("Configuration 2: 30.0%");
    fireEvent.click(screen.getByRole("button", { name: "Add a configuration (1 of 6)" }));
    const second = screen.getByRole("region", { name: "Configuration 2" });
    fireEvent.change(within(second).getByLabelText("Strategy"), { target: { value: "markdown" } });
    fireEvent.change(screen.getByLabelText("Chunks retrieved per question (k)"), { target: { value: "3" } });

    evaluationsApi.start.mockRejectedValueOnce(new ApiError(429, "too_many_operations", "you have 4 operations pending or running; wait for one to finish"));
    const start = screen.getByRole("button", { name: "Start the evaluation (2 configurations)" }) as HTMLButtonElement;
    await vi.waitFor(() => expect(start.disabled).toBe(false));
    fireEvent.click(start);
    expect((await screen.findByRole("alert")).textContent).toBe("You have 4 operations pending or running; wait for one to finish.");
    const [collectionId, configs, k, model] = evaluationsApi.start.mock.calls[0]!;
    expect([collectionId, configs.map((c) => c.strategy), configs[0]!.params?.["chunk_size"], k, model]).toEqual(["c1", ["recursive", "markdown"], 256, 3, "static"]);
  });

  it("starts nothing in a collection without questions, and says where to add them", async () => {
    questionsApi.questions.mockResolvedValue({ items: [], next_cursor: null });
    renderWithQueries(<EvaluationsScreen collectionId="c1" />);
    await screen.findByText(/This collection has no questions yet/);
    await screen.findByRole("heading", { name: "Configuration 1" });
    expect((screen.getByRole("button", { name: "Start the evaluation (1 configuration)" }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByRole("link", { name: "add some, or import a CSV file" }).getAttribute("href")).toBe("/collections/c1/questions");
    expect(evaluationsApi.start).not.toHaveBeenCalled();
  });
});
