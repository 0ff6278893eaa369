// The questions screen against a mocked API: the list comes a page at a time; a question is
// added with a reference marked by selecting its answer in the document's text (in code
// points), and the list is asked for again; a refused question says why in a sentence; a
// question's text is edited; a deletion goes through a confirmation dialog.
import { fireEvent, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Collection, DocumentOut, DocumentText } from "../api/types";
import type { Page } from "../lib/paging";
import type { Question, Reference } from "../lib/questionsApi";

const api = {
  collection: vi.fn<(id: string) => Promise<Partial<Collection>>>(),
  documents: vi.fn<(id: string) => Promise<Partial<DocumentOut>[]>>(),
  documentTextWindow: vi.fn<(id: string, start: number, end: number | null) => Promise<DocumentText>>(),
};
const questionsApi = {
  questions: vi.fn<(collectionId: string, cursor: string | undefined) => Promise<Page<Question>>>(),
  createQuestion: vi.fn<(collectionId: string, question: string, references: Reference[]) => Promise<Question>>(),
  updateQuestion: vi.fn<(id: string, patch: { question?: string }) => Promise<Question>>(),
  deleteQuestion: vi.fn<(id: string) => Promise<void>>(),
  importQuestions: vi.fn<(collectionId: string, file: File) => Promise<{ imported: number; questions: number }>>(),
};
vi.mock("../api/endpoints", () => ({ api }));
vi.mock("../lib/questionsApi", async (original) => ({ ...(await original<typeof import("../lib/questionsApi")>()), questionsApi }));

const { default: QuestionsScreen } = await import("./QuestionsScreen");
const { renderWithQueries } = await import("../test/render");

const TEXT = "# Guide 🚀\n\nInstall the package, then run the service.\n";

function question(id: string, text: string, references: Reference[] = [{ document_id: "d1", start: 12, end: 31 }]): Question {
  return { id, collection_id: "c1", question: text, references, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };
}

const items = () => [...document.querySelectorAll(".question-list > li .question-text")].map((el) => el.textContent);

/** Select `words` in the document's text shown, as a mouse would. */
function selectWords(words: string) {
  const region = screen.getByRole("region", { name: "Text of guide.md" });
  const node = region.firstChild!.firstChild!;
  const at = node.textContent!.indexOf(words);
  const range = document.createRange();
  range.setStart(node, at);
  range.setEnd(node, at + words.length);
  document.getSelection()!.removeAllRanges();
  document.getSelection()!.addRange(range);
  fireEvent.mouseUp(region);
}

describe("QuestionsScreen", () => {
  beforeEach(() => {
    for (const fn of [...Object.values(api), ...Object.values(questionsApi)]) fn.mockReset();
    api.collection.mockResolvedValue({ id: "c1", name: "Handbook" });
    api.documents.mockResolvedValue([{ id: "d1", filename: "guide.md", status: "chunked" }]);
    api.documentTextWindow.mockResolvedValue({
      document_id: "d1",
      filename: "guide.md",
      kind: "markdown",
      text: TEXT,
      size_chars: [...TEXT].length,
      start: 0,
      end: [...TEXT].length,
    });
    document.getSelection()?.removeAllRanges();
  });

  it("lists the questions a page at a time", async () => {
    questionsApi.questions.mockImplementation((_, cursor) =>
      Promise.resolve(cursor ? { items: [question("q2", "Second?")], next_cursor: null } : { items: [question("q1", "First?")], next_cursor: "page-2" }),
    );
    renderWithQueries(<QuestionsScreen collectionId="c1" />);
    await screen.findByText("First?");
    expect(screen.getByTestId("question-count").textContent).toBe("The first 1 question.");
    expect(screen.getByText("guide.md, characters 12–31")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Load more questions" }));
    await screen.findByText("Second?");
    expect(items()).toEqual(["First?", "Second?"]);
    expect(screen.queryByRole("button", { name: "Load more questions" })).toBeNull();
    expect(questionsApi.questions).toHaveBeenLastCalledWith("c1", "page-2", 50, expect.anything());
  });

  it("adds a question whose answer is selected in the text, and says why one is refused", async () => {
    questionsApi.questions.mockResolvedValue({ items: [], next_cursor: null });
    renderWithQueries(<QuestionsScreen collectionId="c1" />);
    await screen.findByText("No questions yet: add one below, or import a CSV file.");
    await screen.findByRole("region", { name: "Text of guide.md" });

    // Nothing marked yet: the question is not sent.
    fireEvent.change(screen.getByLabelText("Question"), { target: { value: "  How is it installed?  " } });
    fireEvent.click(screen.getByRole("button", { name: "Save the question" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/^Mark its answer first/);
    expect(questionsApi.createQuestion).not.toHaveBeenCalled();

    // "Install the package" starts at code point 11 ("🚀" is two units, one code point).
    selectWords("Install the package");
    fireEvent.click(screen.getByRole("button", { name: "Add the selection as a reference" }));
    const refs = screen.getByRole("list", { name: "References of the new question" });
    expect(within(refs).getByText(/guide\.md, characters 11–30: “Install the package”/)).toBeTruthy();

    questionsApi.createQuestion.mockRejectedValueOnce(
      new ApiError(400, "invalid_reference", "reference 1 ends at character 30, past the end of guide.md (12 characters of extracted text)"),
    );
    fireEvent.click(screen.getByRole("button", { name: "Save the question" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "Reference 1 ends at character 30, past the end of guide.md (12 characters of extracted text).",
    );
    expect(questionsApi.createQuestion).toHaveBeenCalledWith("c1", "How is it installed?", [{ document_id: "d1", start: 11, end: 30 }]);

    questionsApi.createQuestion.mockResolvedValueOnce(question("q9", "How is it installed?", [{ document_id: "d1", start: 11, end: 30 }]));
    questionsApi.questions.mockResolvedValue({ items: [question("q9", "How is it installed?", [{ document_id: "d1", start: 11, end: 30 }])], next_cursor: null });
    fireEvent.click(screen.getByRole("button", { name: "Save the question" }));
    await vi.waitFor(() => expect(items()).toEqual(["How is it installed?"]));
    expect(screen.getByText("Question added: “How is it installed?”.")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
    // The form is empty again, ready for the next question.
    expect((screen.getByLabelText("Question") as HTMLTextAreaElement).value).toBe("");
    expect(screen.queryByRole("list", { name: "References of the new question" })).toBeNull();
    expect(questionsApi.questions).toHaveBeenCalledTimes(2);
  });

  it("edits a question's text", async () => {
    questionsApi.questions.mockResolvedValue({ items: [question("q1", "Old wording?")], next_cursor: null });
    renderWithQueries(<QuestionsScreen collectionId="c1" />);
    await screen.findByText("Old wording?");
    fireEvent.click(screen.getByRole("button", { name: "Edit question 1" }));
    fireEvent.change(screen.getByLabelText("Question 1"), { target: { value: "New wording?" } });
    questionsApi.updateQuestion.mockResolvedValue(question("q1", "New wording?"));
    questionsApi.questions.mockResolvedValue({ items: [question("q1", "New wording?")], next_cursor: null });
    fireEvent.click(screen.getByRole("button", { name: "Save the change" }));
    await screen.findByText("New wording?");
    expect(questionsApi.updateQuestion).toHaveBeenCalledWith("q1", { question: "New wording?" });
  });

  it("deletes a question after a confirmation", async () => {
    questionsApi.questions.mockResolvedValue({ items: [question("q1", "Keep?"), question("q2", "Drop?")], next_cursor: null });
    renderWithQueries(<QuestionsScreen collectionId="c1" />);
    await screen.findByText("Drop?");
    fireEvent.click(screen.getByRole("button", { name: "Delete question 2" }));
    const dialog = await screen.findByRole("dialog", { name: "Delete this question?" });
    questionsApi.deleteQuestion.mockResolvedValue(undefined);
    questionsApi.questions.mockResolvedValue({ items: [question("q1", "Keep?")], next_cursor: null });
    fireEvent.click(within(dialog).getByRole("button", { name: "Delete the question" }));
    await vi.waitFor(() => expect(items()).toEqual(["Keep?"]));
    expect(questionsApi.deleteQuestion).toHaveBeenCalledWith("q2");
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("imports a CSV file and says how many questions it added, or why it added none", async () => {
    questionsApi.questions.mockResolvedValue({ items: [], next_cursor: null });
    renderWithQueries(<QuestionsScreen collectionId="c1" />);
    await screen.findByText("No questions yet: add one below, or import a CSV file.");
    const input = screen.getByLabelText("Import questions from a CSV file");
    const csv = new File(["question,references,corpus_id\n"], "questions.csv", { type: "text/csv" });
    questionsApi.importQuestions.mockRejectedValueOnce(new ApiError(400, "invalid_csv", "row 2: the question is blank; row 3: corpus_id names no document of this collection"));
    fireEvent.change(input, { target: { files: [csv] } });
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The file was not imported: Row 2: the question is blank; row 3: corpus id names no document of this collection.",
    );
    questionsApi.importQuestions.mockResolvedValueOnce({ imported: 2, questions: 2 });
    questionsApi.questions.mockResolvedValue({ items: [question("q1", "One?"), question("q2", "Two?")], next_cursor: null });
    fireEvent.change(input, { target: { files: [csv] } });
    await vi.waitFor(() => expect(items()).toEqual(["One?", "Two?"]));
    expect(screen.getByTestId("import-result").textContent).toBe("Imported 2 questions; the collection has 2 questions.");
    expect(questionsApi.importQuestions).toHaveBeenCalledWith("c1", csv);
    expect(screen.getByRole("link", { name: "Export the questions (CSV)" }).getAttribute("href")).toBe("/api/v1/collections/c1/questions/export");
  });
});
