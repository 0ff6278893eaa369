// The server's data as TanStack Query sees it: one key per resource, the options each screen
// reads it with, and what a change invalidates. Keys nest, so invalidating
// ["collection", id] refreshes the collection with its documents, operations and chunks.
import { QueryClient, queryOptions, type QueryKey } from "@tanstack/react-query";
import { describeError } from "./client";
import { api } from "./endpoints";

/**
 * Fresh data on every screen visit (the cached copy shows meanwhile), one try (an error shows
 * at once, in the server's words, with a Retry), and no refetch on window focus.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: false, refetchOnWindowFocus: false },
      mutations: { retry: false },
    },
  });
}

/** A query's or mutation's error as the sentence to show (the server's `detail`), or null. */
export function errorText(error: unknown): string | null {
  return error ? describeError(error) : null;
}

export const keys = {
  strategies: ["strategies"],
  collections: ["collections"],
  collection: (id: string) => ["collection", id],
  documents: (collectionId: string) => ["collection", collectionId, "documents"],
  operations: (collectionId: string) => ["collection", collectionId, "operations"],
  collectionChunks: (collectionId: string) => ["collection", collectionId, "chunks"],
  anyDocument: ["document"],
  document: (id: string) => ["document", id],
  documentChunks: (id: string) => ["document", id, "chunks"],
  documentText: (id: string) => ["document-text", id],
} satisfies Record<string, QueryKey | ((...args: string[]) => QueryKey)>;

export const queries = {
  /** The strategies and their parameter schemas: fixed for the server's life, read once. */
  strategies: () =>
    queryOptions({
      queryKey: keys.strategies,
      queryFn: ({ signal }) => api.strategies(signal),
      staleTime: Infinity,
      gcTime: Infinity,
    }),

  collections: () => queryOptions({ queryKey: keys.collections, queryFn: ({ signal }) => api.collections(signal) }),

  collection: (id: string) =>
    queryOptions({ queryKey: [...keys.collection(id), "detail"], queryFn: ({ signal }) => api.collection(id, signal) }),

  documents: (collectionId: string) =>
    queryOptions({ queryKey: keys.documents(collectionId), queryFn: ({ signal }) => api.documents(collectionId, signal) }),

  operations: (collectionId: string) =>
    queryOptions({ queryKey: keys.operations(collectionId), queryFn: ({ signal }) => api.operations(collectionId, signal) }),

  document: (id: string) =>
    queryOptions({ queryKey: [...keys.document(id), "detail"], queryFn: ({ signal }) => api.document(id, signal) }),

  documentChunks: (id: string) =>
    queryOptions({ queryKey: keys.documentChunks(id), queryFn: ({ signal }) => api.documentChunks(id, signal) }),

  /**
   * A stored document's extracted text: its content never changes under its id, so it is
   * fetched once and shared (the playground's previews, every chunk's context). A text may be
   * megabytes: one no screen uses is dropped after a minute.
   */
  documentText: (id: string) =>
    queryOptions({
      queryKey: keys.documentText(id),
      queryFn: ({ signal }) => api.documentText(id, signal),
      staleTime: Infinity,
      gcTime: 60_000,
    }),
};

/**
 * After a change to a collection (an upload, a deletion, an operation started, cancelled or
 * finished): the collection, its documents, operations and chunks, and the list of collections
 * (its counts and last operation). `documents` too when chunks of its documents changed.
 */
export function invalidateCollection(client: QueryClient, collectionId: string, { documents = false } = {}): Promise<void> {
  return Promise.all([
    client.invalidateQueries({ queryKey: keys.collection(collectionId) }),
    client.invalidateQueries({ queryKey: keys.collections }),
    documents ? client.invalidateQueries({ queryKey: keys.anyDocument }) : null,
  ]).then(() => undefined);
}
