// Stored chunks of a collection (page by page) or of one document: offsets, heading path,
// page, tokens, and the chunk in its context in the source (the document's extracted text,
// fetched when a context is first opened, once for all its chunks).
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link } from "wouter";
import { api, exportUrl } from "../api/endpoints";
import { errorText, keys, queries } from "../api/queries";
import type { StoredChunk } from "../api/types";
import { ChunkMeta } from "../components/ChunkList";
import { ErrorMessage } from "../components/ErrorMessage";
import { filtersFrom, isFiltered, matchParts, NO_FILTERS, type ChunkFilters, type FilterForm } from "../lib/chunkFilters";
import { plural } from "../lib/format";
import { useDebounced, useTitle } from "../lib/hooks";
import { codePointIndex } from "../lib/offsets";

const PAGE = 50;
const CONTEXT_CHARS = 160;

interface Props {
  collectionId?: string;
  documentId?: string;
}

export default function ChunksScreen({ collectionId, documentId }: Props) {
  return documentId ? <DocumentChunks documentId={documentId} /> : <CollectionChunks collectionId={collectionId ?? ""} />;
}

/** Quiet time after the last keystroke in a filter before the list is asked again. */
const FILTER_DEBOUNCE_MS = 250;

/** The filters as typed, and as sent once typing stops (null while they cannot be sent). */
function useChunkFilters(): { form: FilterForm; setForm: (f: FilterForm) => void; filters: ChunkFilters; error: string | null } {
  const [form, setForm] = useState<FilterForm>(NO_FILTERS);
  const debounced = useDebounced(form, FILTER_DEBOUNCE_MS);
  const { filters, error } = useMemo(() => filtersFrom(debounced), [debounced]);
  return { form, setForm, filters, error };
}

function ChunkFilterForm({
  form,
  onChange,
  error,
  documents,
}: {
  form: FilterForm;
  onChange: (f: FilterForm) => void;
  error: string | null;
  documents?: { id: string; filename: string }[];
}) {
  const set = (patch: Partial<FilterForm>) => onChange({ ...form, ...patch });
  return (
    <form className="chunk-filters panel" role="search" aria-label="Search and filter the chunks" onSubmit={(e) => e.preventDefault()}>
      <div className="field">
        <label htmlFor="chunk-q">Search the text</label>
        <input id="chunk-q" type="search" value={form.q} maxLength={500} onChange={(e) => set({ q: e.target.value })} />
      </div>
      {documents ? (
        <div className="field">
          <label htmlFor="chunk-document">Document</label>
          <select id="chunk-document" value={form.documentId} onChange={(e) => set({ documentId: e.target.value })}>
            <option value="">All documents</option>
            {documents.map((d) => (
              <option key={d.id} value={d.id}>
                {d.filename}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <div className="field">
        <label htmlFor="chunk-heading">Heading contains</label>
        <input id="chunk-heading" type="search" value={form.heading} maxLength={500} onChange={(e) => set({ heading: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="chunk-min">Tokens, at least</label>
        <input id="chunk-min" type="number" min={0} inputMode="numeric" value={form.minTokens} onChange={(e) => set({ minTokens: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="chunk-max">Tokens, at most</label>
        <input id="chunk-max" type="number" min={0} inputMode="numeric" value={form.maxTokens} onChange={(e) => set({ maxTokens: e.target.value })} />
      </div>
      {form !== NO_FILTERS ? (
        <button type="button" onClick={() => onChange(NO_FILTERS)}>
          Clear the filters
        </button>
      ) : null}
      <ErrorMessage error={error} />
    </form>
  );
}

function CollectionChunks({ collectionId }: { collectionId: string }) {
  const collection = useQuery(queries.collection(collectionId));
  const documents = useQuery(queries.documents(collectionId));
  const { form, setForm, filters, error: filterError } = useChunkFilters();
  // Page after page, as the reader asks for more; the filters are the server's (keyset pages).
  const pages = useInfiniteQuery({
    queryKey: [...keys.collectionChunks(collectionId), filters],
    queryFn: ({ pageParam, signal }) => api.collectionChunks(collectionId, pageParam, PAGE, signal, filters),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.next_cursor ?? undefined,
    enabled: filterError === null,
    placeholderData: keepPreviousData,
  });
  const chunks = useMemo(() => pages.data?.pages.flatMap((page) => page.items) ?? [], [pages.data]);
  const loading = pages.isFetching;
  const error = errorText(pages.error);
  useTitle(collection.data ? `Chunks of ${collection.data.name}` : "Chunks");

  const names = useMemo(() => new Map((documents.data ?? []).map((d) => [d.id, d.filename])), [documents.data]);

  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> / <Link href={`/collections/${collectionId}`}>{collection.data?.name ?? "…"}</Link> /{" "}
        <span>Chunks</span>
      </p>
      <h1>Chunks of {collection.data?.name ?? "the collection"}</h1>
      <ErrorMessage error={errorText(collection.error ?? documents.error)} />
      <p className="actions">
        <a href={exportUrl(collectionId)} className="button" download>
          Export all chunks (JSONL)
        </a>
      </p>
      <ChunkFilterForm form={form} onChange={setForm} error={filterError} documents={documents.data} />
      <p className="muted" aria-live="polite" data-testid="chunk-count">
        {collection.data
          ? isFiltered(filters)
            ? `Showing ${chunks.length}${pages.hasNextPage ? "" : " (all)"} of the chunks that match, out of ${plural(collection.data.chunk_count, "chunk")}.`
            : `Showing ${chunks.length} of ${plural(collection.data.chunk_count, "chunk")}.`
          : ""}
      </p>
      {chunks.length === 0 && !loading && !error ? (
        <p>{isFiltered(filters) ? "No chunk matches these filters." : "No chunks yet: run chunking on the collection first."}</p>
      ) : null}
      <ol className={`chunk-list${pages.isPlaceholderData ? " out-of-date" : ""}`} aria-label="Chunks" aria-busy={loading}>
        {chunks.map((chunk) => (
          <StoredChunkItem key={chunk.id} chunk={chunk} documentName={names.get(chunk.document_id) ?? "document"} q={filters.q} />
        ))}
      </ol>
      <ErrorMessage
        error={error}
        onRetry={() => void (pages.isFetchNextPageError ? pages.fetchNextPage() : pages.refetch())}
      />
      {pages.hasNextPage ? (
        <button type="button" onClick={() => void pages.fetchNextPage()} disabled={loading}>
          {loading ? "Loading…" : `Load ${PAGE} more chunks`}
        </button>
      ) : null}
    </section>
  );
}

function DocumentChunks({ documentId }: { documentId: string }) {
  const doc = useQuery(queries.document(documentId));
  const { form, setForm, filters, error: filterError } = useChunkFilters();
  const chunks = useQuery({
    queryKey: [...keys.documentChunks(documentId), filters],
    queryFn: ({ signal }) => api.documentChunks(documentId, signal, filters),
    enabled: filterError === null,
    placeholderData: keepPreviousData,
  });
  const collectionId = doc.data?.collection_id ?? "";
  const collection = useQuery({ ...queries.collection(collectionId), enabled: collectionId !== "" });
  useTitle(doc.data ? `Chunks of ${doc.data.filename}` : "Chunks");
  const d = doc.data;
  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> /{" "}
        {d ? <Link href={`/collections/${d.collection_id}`}>{collection.data?.name ?? "Collection"}</Link> : <span>…</span>} /{" "}
        <span>{d?.filename ?? "…"}</span>
      </p>
      <h1>Chunks of {d?.filename ?? "the document"}</h1>
      <ErrorMessage
        error={errorText(doc.error ?? chunks.error)}
        onRetry={() => void (doc.error ? doc.refetch() : chunks.refetch())}
      />
      {d ? (
        <p className="actions">
          <Link href={`/playground?document=${d.id}`} className="button">
            Preview in the playground
          </Link>
          <a href={exportUrl(d.collection_id)} className="button" download>
            Export the collection (JSONL)
          </a>
        </p>
      ) : null}
      <ChunkFilterForm form={form} onChange={setForm} error={filterError} />
      {chunks.data ? (
        chunks.data.length === 0 ? (
          <p>{isFiltered(filters) ? "No chunk matches these filters." : "No chunks yet: run chunking on the collection first."}</p>
        ) : (
          <>
            <p className="muted" aria-live="polite" data-testid="chunk-count">
              {isFiltered(filters) ? `${plural(chunks.data.length, "chunk")} match.` : `${plural(chunks.data.length, "chunk")}.`}
            </p>
            <ol className={`chunk-list${chunks.isPlaceholderData ? " out-of-date" : ""}`} aria-label="Chunks">
              {chunks.data.map((chunk) => (
                <StoredChunkItem key={chunk.id} chunk={chunk} q={filters.q} />
              ))}
            </ol>
          </>
        )
      ) : chunks.isPending ? (
        <p className="muted">Loading…</p>
      ) : null}
    </section>
  );
}

/** A chunk's text with every match of the search marked (as text, never HTML). */
function MatchedText({ text, q }: { text: string; q?: string }) {
  const parts = useMemo(() => matchParts(text, q), [text, q]);
  return (
    <>
      {parts.map((part, k) =>
        part.match ? (
          <mark key={k} className="match">
            {part.text}
          </mark>
        ) : (
          part.text
        ),
      )}
    </>
  );
}

function StoredChunkItem({ chunk, documentName, q }: { chunk: StoredChunk; documentName?: string; q?: string }) {
  const [open, setOpen] = useState(false);
  // Once opened: a closed one would still read a text another chunk fetched.
  const text = useQuery({ ...queries.documentText(chunk.document_id), enabled: open });
  const source = open ? { text: text.data?.text ?? null, error: errorText(text.error) } : { text: null, error: null };
  return (
    <li className="chunk-card" data-chunk-id={chunk.id}>
      <ChunkMeta
        chunk={chunk}
        extra={
          documentName ? (
            <span>
              {" "}
              · <Link href={`/documents/${chunk.document_id}/chunks`}>{documentName}</Link>
            </span>
          ) : null
        }
      />
      <p className="chunk-text">
        <MatchedText text={chunk.text} q={q} />
      </p>
      <details
        onToggle={(e) => {
          if (e.currentTarget.open) setOpen(true);
        }}
      >
        <summary>Context in the source</summary>
        {source.text !== null ? (
          <ChunkContext chunk={chunk} text={source.text} />
        ) : source.error ? (
          <ErrorMessage error={`The document's text cannot be shown. ${source.error}`} />
        ) : (
          <p className="muted">Loading the document's text…</p>
        )}
      </details>
    </li>
  );
}

/** The chunk where it sits in the document's text, with what comes before and after it. */
function ChunkContext({ chunk, text }: { chunk: StoredChunk; text: string }) {
  const index = useMemo(() => codePointIndex(text), [text]);
  const start = index(chunk.start);
  const end = index(chunk.end);
  const before = text.slice(Math.max(0, start - CONTEXT_CHARS), start);
  const after = text.slice(end, end + CONTEXT_CHARS);
  return (
    <p className="chunk-context" data-context-from="document-text">
      {start > CONTEXT_CHARS ? "…" : ""}
      <span className="context">{before}</span>
      <mark className="chunk-in-context">{text.slice(start, end)}</mark>
      <span className="context">{after}</span>
      {end + CONTEXT_CHARS < text.length ? "…" : ""}
    </p>
  );
}
