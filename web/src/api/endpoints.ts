// The API calls the screens make, typed by the generated schema.
import { call, client } from "./client";
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

  collectionChunks: (collectionId: string, cursor: string | undefined, limit = 50, signal?: AbortSignal): Promise<Page<StoredChunk>> =>
    call(
      client.GET("/api/v1/collections/{collection_id}/chunks", {
        params: { path: { collection_id: collectionId }, query: { limit, cursor } },
        signal,
      }),
    ),

  documentChunks: (documentId: string, signal?: AbortSignal): Promise<StoredChunk[]> =>
    fetchAll((cursor) =>
      call(
        client.GET("/api/v1/documents/{document_id}/chunks", {
          params: { path: { document_id: documentId }, query: { limit: 1000, cursor } },
          signal,
        }),
      ),
    ),

  preview: (
    source: Source,
    strategy: string,
    params: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<PreviewResponse> =>
    call(client.POST("/api/v1/preview", { body: { ...source, strategy, params }, signal })),

  compare: (source: Source, configs: ChunkConfig[], signal?: AbortSignal): Promise<CompareResponse> =>
    call(client.POST("/api/v1/compare", { body: { ...source, configs, max_chunks: 1000 }, signal })),
};

export function exportUrl(collectionId: string): string {
  return `/api/v1/collections/${encodeURIComponent(collectionId)}/export`;
}
