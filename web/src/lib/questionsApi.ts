// The API calls of a collection's evaluation questions, typed by the generated schema, and
// their query keys. (Kept beside the screens that use them: src/api/ holds the shared calls.)
import { API_PREFIX, call, client, errorFromBody, notifyUnauthorized, ApiError } from "../api/client";
import type { components } from "../api/schema";
import type { Page } from "./paging";

type S = components["schemas"];
export type Question = S["QuestionOut"];
export type Reference = S["Reference"];
export type QuestionImport = S["QuestionImport"];

/** Questions asked for at once (a page of the list). */
export const QUESTIONS_PAGE = 50;

export const questionKeys = {
  /** Under the collection's key: a change to the collection refreshes its questions too. */
  questions: (collectionId: string) => ["collection", collectionId, "questions"],
};

export const questionsApi = {
  questions: (collectionId: string, cursor: string | undefined, limit = QUESTIONS_PAGE, signal?: AbortSignal): Promise<Page<Question>> =>
    call(
      client.GET("/api/v1/collections/{collection_id}/questions", {
        params: { path: { collection_id: collectionId }, query: { limit, cursor } },
        signal,
      }),
    ),

  createQuestion: (collectionId: string, question: string, references: Reference[]): Promise<Question> =>
    call(
      client.POST("/api/v1/collections/{collection_id}/questions", {
        params: { path: { collection_id: collectionId } },
        body: { question, references },
      }),
    ),

  updateQuestion: (id: string, patch: { question?: string; references?: Reference[] }): Promise<Question> =>
    call(client.PATCH("/api/v1/questions/{question_id}", { params: { path: { question_id: id } }, body: patch })),

  deleteQuestion: (id: string): Promise<void> =>
    call(client.DELETE("/api/v1/questions/{question_id}", { params: { path: { question_id: id } } })).then(() => undefined),

  /** Add a CSV file's questions (all of them or none). */
  importQuestions: async (collectionId: string, file: File): Promise<QuestionImport> => {
    const form = new FormData();
    form.append("file", file, file.name);
    let response: Response;
    try {
      response = await fetch(`${API_PREFIX}/collections/${encodeURIComponent(collectionId)}/questions/import`, {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached; check the connection and retry.");
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (!response.ok) {
      if (response.status === 401) notifyUnauthorized();
      throw errorFromBody(response.status, body);
    }
    return body as QuestionImport;
  },
};

export function questionsExportUrl(collectionId: string): string {
  return `${API_PREFIX}/collections/${encodeURIComponent(collectionId)}/questions/export`;
}
