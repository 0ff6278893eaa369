// Names for the generated schema types the screens use (the schema itself is generated from
// the server's /openapi.json by `npm run gen:api`; never edit schema.d.ts by hand).
import type { components } from "./schema";

type S = components["schemas"];

export type Collection = S["CollectionOut"];
export type ChunkConfig = S["ChunkConfig"];
export type DocumentOut = S["DocumentOut"];
export type DocumentText = S["DocumentText"];
export type LastOperation = S["LastOperation"];
export type Operation = S["OperationOut"];
export type Strategy = S["StrategyOut"];
export type Choice = S["ChoiceOut"];
export type PreviewChunk = S["ChunkOut"];
export type StoredChunk = S["StoredChunkOut"];
export type Metrics = S["Metrics"];
export type PreviewResponse = S["PreviewResponse"];
export type CompareResponse = S["CompareResponse"];
export type CompareResult = S["CompareResult"];
export type Recommendation = S["Recommendation"];
export type User = S["UserOut"];
export type ErrorBody = S["ErrorBody"];
export type UploadResponse = S["UploadResponse"];

export type OperationStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

export const FINAL_STATUSES: readonly string[] = ["completed", "failed", "cancelled"];

export function isFinal(status: string): boolean {
  return FINAL_STATUSES.includes(status);
}

/** Any chunk with offsets: a preview chunk or a stored one. */
export interface Span {
  index: number;
  start: number;
  end: number;
  tokens: number;
  text: string;
  metadata: Record<string, unknown>;
}
