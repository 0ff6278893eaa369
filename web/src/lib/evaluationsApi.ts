// The API calls of evaluations (configurations scored by what they retrieve for a collection's
// questions), their types and query keys. An evaluation is an operation: its progress comes
// over the operation's WebSocket and it is cancelled as one (`api.cancelOperation`).
import { call, client } from "../api/client";
import type { components } from "../api/schema";
import type { ChunkConfig, Operation } from "../api/types";
import type { Page } from "./paging";

type S = components["schemas"];
export type Evaluation = S["EvaluationOut"];
export type ConfigScore = S["ConfigScore"];
export type QuestionScore = S["QuestionScore"];
export type QuestionConfigScore = S["QuestionConfigScore"];
export type Retrieved = S["Retrieved"];
export type EmbeddingModel = "static" | "local";

export const MAX_EVAL_CONFIGS = 6;
export const DEFAULT_K = 5;
export const MAX_K = 20;
/** Question scores asked for at once. */
export const SCORES_PAGE = 20;

export const evaluationKeys = {
  /** Under the collection's key: a change to the collection refreshes its evaluations too. */
  list: (collectionId: string) => ["collection", collectionId, "evaluations"],
  evaluation: (id: string) => ["evaluation", id],
  scores: (id: string) => ["evaluation", id, "questions"],
};

export const evaluationsApi = {
  start: (collectionId: string, configs: ChunkConfig[], k: number, embeddingModel: EmbeddingModel): Promise<Evaluation> =>
    call(
      client.POST("/api/v1/collections/{collection_id}/evaluations", {
        params: { path: { collection_id: collectionId } },
        body: { configs, k, embedding_model: embeddingModel },
      }),
    ),

  list: (collectionId: string, cursor: string | undefined, limit = 100, signal?: AbortSignal): Promise<Page<Evaluation>> =>
    call(
      client.GET("/api/v1/collections/{collection_id}/evaluations", {
        params: { path: { collection_id: collectionId }, query: { limit, cursor } },
        signal,
      }),
    ),

  get: (id: string, signal?: AbortSignal): Promise<Evaluation> =>
    call(client.GET("/api/v1/evaluations/{evaluation_id}", { params: { path: { evaluation_id: id } }, signal })),

  scores: (id: string, cursor: string | undefined, limit = SCORES_PAGE, signal?: AbortSignal): Promise<Page<QuestionScore>> =>
    call(
      client.GET("/api/v1/evaluations/{evaluation_id}/questions", {
        params: { path: { evaluation_id: id }, query: { limit, cursor } },
        signal,
      }),
    ),
};

/** The evaluation as the operation whose progress `OperationProgress` follows. */
export function asOperation(evaluation: Evaluation): Operation {
  return {
    id: evaluation.id,
    kind: "evaluation",
    status: evaluation.status,
    documents_total: evaluation.documents_total,
    documents_done: evaluation.documents_done,
    documents_failed: evaluation.documents_failed,
    chunks_created: 0,
    error: evaluation.error,
    created_at: evaluation.created_at,
    finished_at: evaluation.finished_at,
  } as Operation;
}

/** An evaluation's progress in words: documents chunked (each once per configuration). */
export function describeEvaluationProgress(op: Pick<Operation, "status" | "documents_total" | "documents_done" | "documents_failed">): string {
  const work = op.documents_done + op.documents_failed;
  const percent = op.status === "completed" ? 100 : op.documents_total > 0 ? Math.round(Math.min(1, work / op.documents_total) * 100) : 0;
  const word =
    op.status === "pending"
      ? "Waiting to start"
      : op.status === "running"
        ? "Running"
        : op.status === "completed"
          ? "Completed"
          : op.status === "failed"
            ? "Failed"
            : op.status === "cancelled"
              ? "Cancelled"
              : op.status;
  const failed = op.documents_failed > 0 ? `, ${op.documents_failed} failed` : "";
  return `${word}: ${percent}%, ${op.documents_done} of ${op.documents_total} document runs chunked and embedded${failed}`;
}

/** A share 0..1 as a percentage with one decimal ("83.3%"). */
export function percent(share: number): string {
  return `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}
