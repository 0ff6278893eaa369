// The API calls the screens make, typed by the generated schema.
import { call, client } from "./client";
import type { paths } from "./schema";
import type {
  ChunkConfig,
  Collection,
  CompareResponse,
  DocumentOut,
  DocumentText,
  Operation,
  PreviewResponse,
  StoredChunk,
  Strategy,
  User,
} from "./types";
import type { ChunkFilters } from "../lib/chunkFilters";
import { fetchAll, type Page } from "../lib/paging";

export type Source = { text: string; filename?: string | null } | { document_id: string };

export const api = {
  me: (signal?: AbortSignal): Promise<User> => call(client.GET("/api/v1/auth/me", { signal })),

  login: (username: string, password: string) =>
    call(client.POST("/api/v1/auth/login", { body: { username, password } })),

  logout: () => call(client.POST("/api/v1/auth/logout")),

  strategies: (signal?: AbortSignal): Promise<Strategy[]> =>
    call(client.GET("/api/v1/strategies", { signal })),

  collections: (signal?: AbortSignal): Promise<Collection[]> =>
    fetchAll((cursor) =>
      call(client.GET("/api/v1/collections", { params: { query: { limit: 1000, cursor } }, signal })),
    ),

  collection: (id: string, signal?: AbortSignal): Promise<Collection> =>
    call(client.GET("/api/v1/collections/{collection_id}", { params: { path: { collection_id: id } }, signal })),

  createCollection: (name: string, config: ChunkConfig): Promise<Collection> =>
    call(client.POST("/api/v1/collections", { body: { name, config } })),

  updateCollection: (id: string, patch: { name?: string; config?: ChunkConfig }): Promise<Collection> =>
    call(client.PATCH("/api/v1/collections/{collection_id}", { params: { path: { collection_id: id } }, body: patch })),

  /** What re-chunking with `config` would change: chunks kept, added, removed, tokens to embed. */
  diff: (id: string, config: ChunkConfig | null, signal?: AbortSignal) =>
    call(client.POST("/api/v1/collections/{collection_id}/diff", { params: { path: { collection_id: id } }, body: { config, include_changes: false }, signal })),

  deleteCollection: (id: string) =>
    call(client.DELETE("/api/v1/collections/{collection_id}", { params: { path: { collection_id: id } } })),

  documents: (collectionId: string, signal?: AbortSignal): Promise<DocumentOut[]> =>
    fetchAll((cursor) =>
      call(
        client.GET("/api/v1/collections/{collection_id}/documents", {
          params: { path: { collection_id: collectionId }, query: { limit: 1000, cursor } },
          signal,
        }),
      ),
    ),

  document: (id: string, signal?: AbortSignal): Promise<DocumentOut> =>
    call(client.GET("/api/v1/documents/{document_id}", { params: { path: { document_id: id } }, signal })),

  /** The document's extracted text: what its chunks' offsets index (code points, see lib/offsets). */
  documentText: (id: string, signal?: AbortSignal): Promise<DocumentText> =>
    call(client.GET("/api/v1/documents/{document_id}/text", { params: { path: { document_id: id } }, signal })),

  /** A window `[start, end)` of the document's extracted text (code points), for a text of any size. */
  documentTextWindow: (id: string, start: number, end: number | null, signal?: AbortSignal): Promise<DocumentText> =>
    call(
      client.GET("/api/v1/documents/{document_id}/text", {
        // (typed loosely: the window's query is newer than some generated schemas)
        params: { path: { document_id: id }, query: { start, end } as never },
        signal,
      }),
    ),

  deleteDocument: (id: string) =>
    call(client.DELETE("/api/v1/documents/{document_id}", { params: { path: { document_id: id } } })),

  operations: (collectionId: string, signal?: AbortSignal): Promise<Operation[]> =>
    fetchAll((cursor) =>
      call(
        client.GET("/api/v1/collections/{collection_id}/operations", {
          params: { path: { collection_id: collectionId }, query: { limit: 1000, cursor } },
          signal,
        }),
      ),
    ),

  operation: (id: string, signal?: AbortSignal): Promise<Operation> =>
    call(client.GET("/api/v1/operations/{operation_id}", { params: { path: { operation_id: id } }, signal })),

  startOperation: (collectionId: string, config: ChunkConfig | null, documentIds: string[] | null) =>
    call(
      client.POST("/api/v1/collections/{collection_id}/operations", {
        params: { path: { collection_id: collectionId } },
        body: { config, document_ids: documentIds },
      }),
    ),

  cancelOperation: (id: string) =>
    call(client.POST("/api/v1/operations/{operation_id}/cancel", { params: { path: { operation_id: id } } })),

  collectionChunks: (
    collectionId: string,
    cursor: string | undefined,
    limit = 50,
    signal?: AbortSignal,
    filters: ChunkFilters = {},
  ): Promise<Page<StoredChunk>> =>
    call(
      client.GET("/api/v1/collections/{collection_id}/chunks", {
        params: { path: { collection_id: collectionId }, query: { limit, cursor, ...filters } },
        signal,
      }),
    ),

  documentChunks: (documentId: string, signal?: AbortSignal, filters: Omit<ChunkFilters, "document_id"> = {}): Promise<StoredChunk[]> =>
    fetchAll((cursor) =>
      call(
        client.GET("/api/v1/documents/{document_id}/chunks", {
          params: { path: { document_id: documentId }, query: { limit: 1000, cursor, ...filters } },
          signal,
        }),
      ),
    ),

  /** A preview: every chunk counted and measured, `window` (first chunk, how many) returned. */
  preview: (
    source: Source,
    strategy: string,
    params: Record<string, unknown>,
    signal?: AbortSignal,
    window?: { first_chunk: number; max_chunks: number },
  ): Promise<PreviewResponse & { next_chunk?: number | null }> =>
    call(
      client.POST("/api/v1/preview", {
        // first_chunk only past the first window: a server without windows takes max_chunks alone
        body: { ...previewBody(source, strategy, params), ...(window ? { max_chunks: window.max_chunks } : {}), ...(window?.first_chunk ? { first_chunk: window.first_chunk } : {}) },
        signal,
      }),
    ),

  compare: (source: Source, configs: ChunkConfig[], signal?: AbortSignal): Promise<CompareResponse> =>
    call(client.POST("/api/v1/compare", { body: { ...source, configs, max_chunks: 1000 }, signal })),
};

type PreviewBody = paths["/api/v1/preview"]["post"]["requestBody"]["content"]["application/json"];

/** The preview's request: the source, the strategy and its parameters (the server's defaults for the rest). */
function previewBody(source: Source, strategy: string, params: Record<string, unknown>): PreviewBody {
  return { ...source, strategy, params } as PreviewBody;
}

export function exportUrl(collectionId: string): string {
  return `/api/v1/collections/${encodeURIComponent(collectionId)}/export`;
}
